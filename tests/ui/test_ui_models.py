"""The Textual-free parts of the UI: styled text, live stats, pacing, themes, sessions, block splitting."""

from __future__ import annotations

import asyncio
import math

from relaychat.core.events import CueHit, SegmentEnded, SegmentStarted, TokenDelta
from relaychat.ui.live_stats import LiveStats
from relaychat.ui.pacing import SPEEDS, Pacer
from relaychat.ui.session import Session
from relaychat.ui.styled_text import StyledText
from relaychat.ui.themes import (
    bundled_themes_dir,
    load_themes,
    remember_theme,
    remembered_theme,
    theme_from_file,
)
from tests.ui.conftest import SIZE, Scripted, make_app


def test_styled_text_merges_runs_and_marks_cues_across_them() -> None:
    text = StyledText(start=10)
    text.append("Let us add. ", "large")
    text.append("So", "large")
    text.append(", the sum", "small")
    assert [(r.role, r.text) for r in text.runs] == [("large", "Let us add. So"), ("small", ", the sum")]
    assert text.mark_cue(10 + 12, 10 + 15)  # "So," spans the two writers
    assert [(r.role, r.text, r.cue) for r in text.runs] == [
        ("large", "Let us add. ", False),
        ("large", "So", True),
        ("small", ",", True),
        ("small", " the sum", False),
    ]
    assert not text.mark_cue(0, 5)  # before this block
    assert text.text == "Let us add. So, the sum" and text.end == 10 + len(text.text)


def test_styled_text_extend_keeps_offsets_and_cues() -> None:
    first, second = StyledText(0), StyledText(6)
    first.append("alpha", "large")
    second.append("So", "large")
    second.mark_cue(6, 8)
    second.append(" beta", "small")
    first.extend(second, "\n")
    assert first.text == "alpha\nSo beta" and first.length == 13
    assert [r.cue for r in first.runs] == [False, True, False]


def _segment(index: int, model: str, trigger: str = "start", cue: str | None = None) -> SegmentStarted:
    return SegmentStarted(t=0, index=index, model=model, stage="reasoning", trigger=trigger, cue=cue)  # type: ignore[arg-type]


def _tokens(t: float, index: int, model: str, n: int, margin: float) -> TokenDelta:
    return TokenDelta(
        t=t,
        model=model,
        segment=index,
        stage="reasoning",
        text=" x" * n,  # type: ignore[arg-type]
        token_ids=list(range(n)),
        margins=[margin] * n,
    )


def test_live_stats_cue_table_rates_and_speedup() -> None:
    stats = LiveStats()
    for event in [
        _segment(0, "large"),
        _tokens(1.0, 0, "large", 1, 0.2),
        _tokens(2.0, 0, "large", 10, 0.4),
        CueHit(t=2.0, cue="So,", segment=0, offset=5),
        SegmentEnded(t=2.0, index=0, model="large", stage="reasoning", reason="cue", tokens=11, ttft_s=1.0),
        _segment(1, "small", "cue", "So,"),
        _tokens(2.5, 1, "small", 1, 0.9),
        _tokens(3.0, 1, "small", 4, 0.7),
        SegmentEnded(
            t=3.0, index=1, model="small", stage="reasoning", reason="sentence_end", tokens=5, ttft_s=0.5
        ),
    ]:
        stats.add(event)
    cue = stats.cues["So,"]
    assert (cue.count, cue.small_tokens) == (1, 5)
    assert math.isclose(cue.mean_margin or 0, (0.9 + 4 * 0.7) / 5)
    assert math.isclose(stats.decode_tok_s("large") or 0, 10 / 1.0)  # tokens after the first / decode time
    assert math.isclose(stats.last_segment["small"].tok_s or 0, 4 / 0.5)
    estimate = stats.speedup()
    # 16 tokens at 10 tok/s after the large model's 1 s TTFT, against 3 s of wall time.
    assert math.isclose(estimate.large_only_s or 0, 1.0 + 16 / 10)
    assert math.isclose(estimate.speedup or 0, (1.0 + 1.6) / 3.0)
    assert math.isclose(estimate.large_share or 0, 11 / 16) and math.isclose(estimate.bound or 0, 16 / 11)
    assert stats.current == "small" and stats.last_margin() == 0.7


def test_live_stats_use_the_earlier_rate_until_this_run_measures_one() -> None:
    stats = LiveStats(reference_large_tok_s=20.0)
    stats.add(_segment(0, "small"))
    stats.add(_tokens(1.0, 0, "small", 1, 0.5))
    assert stats.speedup().large_tok_s == 20.0


def test_replay_keys_step_along_the_speed_ladder() -> None:
    """The +/- keys: one step of SPEEDS each way, clamped at the ends (the clock itself is tested with a
    fake clock in tests/unit/core/test_trace.py)."""
    pacer = Pacer(1.0)
    assert [pacer.faster(), pacer.faster(), pacer.slower()] == [2.0, 4.0, 2.0]
    assert Pacer(SPEEDS[0]).slower() == SPEEDS[0] and Pacer(math.inf).faster() == math.inf
    assert Pacer(3.0).faster() == 4.0 and Pacer(3.0).slower() == 2.0  # off the ladder: the next step


def test_themes_load_from_toml_and_the_choice_is_remembered() -> None:
    themes = {theme.name: theme for theme in load_themes()}
    for name in ("relay-dark", "relay-light", "relay-colorblind"):
        assert {"relay-large", "relay-small", "relay-cue", "relay-muted"} <= set(themes[name].variables)
    assert themes["relay-light"].dark is False
    assert theme_from_file(bundled_themes_dir() / "relay-dark.toml").primary == themes["relay-dark"].primary
    assert remembered_theme() is None
    remember_theme("relay-light")
    assert remembered_theme() == "relay-light"


async def test_picking_a_theme_in_the_app_is_remembered() -> None:
    app = make_app(Scripted())
    async with app.run_test(size=SIZE) as pilot:
        app.theme = "relay-colorblind"
        await pilot.pause()
    assert remembered_theme() == "relay-colorblind"


def test_session_conversation_skips_unfinished_turns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    session = Session(tmp_path / "s")
    first = session.start_turn("one?")
    session.end_turn(first, "cancelled")
    assert session.conversation("two?") == [{"role": "user", "content": "two?"}]
    assert (tmp_path / "s" / "session.jsonl").read_text().count("\n") == 2


async def test_long_reasoning_is_split_into_few_blocks_without_losing_text() -> None:
    app = make_app(Scripted())
    async with app.run_test(size=SIZE):
        view = await app.chat.transcript.add_turn("long")
        pieces = [
            TokenDelta(
                t=0,
                model="large" if i % 3 else "small",
                segment=i,
                stage="reasoning",
                text=f" word{i}" + ("\n" if i % 7 == 0 else ""),
                token_ids=[i],
            )
            for i in range(6000)
        ]
        for start in range(0, len(pieces), 500):
            await view.apply(pieces[start : start + 500])
        assert view.reasoning_text == "".join(p.text for p in pieces)
        assert 3 <= len(view.blocks) <= 12  # sealed blocks were merged pairwise
        assert len(view.query("TraceBlock")) == len(view.blocks)
        await asyncio.sleep(0)


def test_a_burst_of_tokens_after_a_stall_gives_no_decode_rate() -> None:
    from relaychat.core.events import ModelStats

    stats = LiveStats()
    # A server's first request: 3.4 s to the first token, then 8 more held-back tokens within 3 ms.
    for event in [_segment(0, "large"), _tokens(3.4, 0, "large", 1, 0.5), _tokens(3.403, 0, "large", 8, 0.5)]:
        stats.add(event)
    assert stats.decode_tok_s("large") is None
    stats.add(_tokens(3.8, 0, "large", 4, 0.5))  # then real steps: a rate over a span worth timing
    assert math.isclose(stats.decode_tok_s("large") or 0, 12 / 0.4)
    assert ModelStats(decode_steps=8, decode_s=0.003).decode_tok_s is None
    assert ModelStats(decode_steps=8, decode_s=0.4).decode_tok_s == 20.0
