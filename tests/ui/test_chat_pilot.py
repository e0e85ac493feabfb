"""The chat app driven like a user would (App.run_test + pilot), against scripted backends."""

from __future__ import annotations

import json
import math

from textual.widgets import Markdown

from relaychat.core.events import CueHit, RunFinished, RunStarted, SegmentStarted, TokenDelta
from relaychat.core.summary import summarize
from relaychat.core.trace import load_trace
from relaychat.ui.live_stats import token_count
from relaychat.ui.screens.help import HelpScreen
from relaychat.ui.screens.replay import bundled_trace
from relaychat.ui.widgets.cue_table import CueTable
from relaychat.ui.widgets.margin_panel import MarginPanel
from relaychat.ui.widgets.speedup_panel import SpeedupPanel
from relaychat.ui.widgets.status_panel import StatusPanel
from relaychat.ui.widgets.trace_block import styled_content
from tests.ui.conftest import ANSWER, SIZE, Scripted, ask, make_app, wait_turn_done, wait_until


async def test_a_relay_turn_is_coloured_by_model_with_the_cue_marked(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        turn = app.chat.session.turns[-1]
        assert turn.status == "done"
        view = app.chat.transcript.turns[-1]
        summary = summarize(turn.events)
        # What is on screen is exactly the reasoning the relay produced, split by writer.
        assert view.reasoning_text == summary.reasoning.rstrip("\n")
        runs = [run for block in view.blocks for run in block.styled.runs]
        roles = [run.role for run in runs]
        assert roles[:4] == ["large", "large", "small", "large"]
        cue = next(e for e in turn.events if isinstance(e, CueHit))
        cue_runs = [run for run in runs if run.cue]
        # Exactly the cue word is underlined: the run the cue token starts, without its white space.
        assert [run.text for run in cue_runs] == [cue.cue.strip()]
        small_text = "".join(
            e.text
            for e in turn.events
            if isinstance(e, TokenDelta) and e.model == "small" and e.stage == "reasoning"
        )
        assert [run.text for run in runs if run.role == "small"] == [small_text]
        # The widget styles come from theme variables, and the cue is underlined.
        spans = [span.style for block in view.blocks for span in styled_content(block.styled).spans]
        assert {"$relay-large", "$relay-small", "$relay-large bold underline"} <= set(spans)
        # The answer stage is separate and rendered as Markdown, edged in its writer's colour.
        answer = view.query_one(Markdown)
        assert answer.has_class("-small") and answer.source == ANSWER


async def test_panels_show_the_numbers_of_the_events(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        events = app.chat.session.turns[-1].events
        final = events[-1]
        assert isinstance(final, RunFinished)
        summary = final.summary
        stats = app.chat.last_stats
        assert stats is not None
        # Speedup panel: switches, share and bound as the summary says.
        speedup = str(app.chat.query_one(SpeedupPanel).content)
        assert f"switches {summary.switches}" in speedup
        assert f"large share {summary.large_share * 100:.1f} %" in speedup
        assert f"at most {1 / summary.large_share:.2f}×" in speedup
        # Cue table: one row per cue, tokens the small model wrote right after it, their mean margin.
        table = app.chat.query_one(CueTable)
        cue = next(e for e in events if isinstance(e, CueHit))
        after = next(e for e in events if isinstance(e, SegmentStarted) and e.trigger == "cue")
        small = [e for e in events if isinstance(e, TokenDelta) and e.segment == after.index]
        margins = [m for e in small for m in e.margins if m is not None]
        row = table.get_row(cue.cue)
        assert row[1:] == [1, sum(token_count(e) for e in small), f"{sum(margins) / len(margins):.2f}"]
        # Margin panel: one bar per token, coloured by writer; current value of the model now writing.
        margin_panel = app.chat.query_one(MarginPanel)
        assert len(margin_panel._values) == summary.total_tokens
        assert margin_panel._writer == "small"  # the answer was written last, by the small model
        head = str(margin_panel.render()).splitlines()[0]
        assert f"now {stats.last_margin('small'):.2f}" in head
        # Status: the servers' own model names, and the last segment's TTFT.
        status = str(app.chat.query_one(StatusPanel).content)
        assert "big-model" in status and "tiny-model" in status and "up" in status
        last_small = [e for e in events if e.type == "segment_end" and e.model == "small"][-1]
        assert f"TTFT {last_small.ttft_s * 1000:.0f} ms" in status


async def test_history_is_saved_as_it_happens(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        session = app.chat.session
        lines = [json.loads(line) for line in session.log_path.read_text().splitlines()]
        assert [line["type"] for line in lines] == ["user", "assistant"]
        assert lines[0]["content"] == "What is 2 + 3?"
        assert lines[1]["content"] == session.turns[-1].answer
        saved = load_trace(lines[1]["trace"])
        assert saved == session.turns[-1].events


async def test_esc_cancels_and_closes_the_stream() -> None:
    scripted = Scripted(delay=0.05, runs=2)
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        view = await _first_turn_view(pilot, app)
        await wait_until(pilot, lambda: len(view.reasoning_text) > 10)
        await pilot.press("escape")
        await wait_turn_done(pilot, app)
        turn = app.chat.session.turns[-1]
        assert turn.status == "cancelled"
        assert scripted.made["large"].closed_early == [True]  # the relay hung up mid-stream
        assert "cancelled" in str(view.query_one("#result").content)
        log = app.chat.session.log_path.read_text()
        assert '"type": "cancelled"' in log
        # A cancelled turn is not part of the next question's conversation.
        await ask(pilot, "And 4 + 4?")
        await wait_turn_done(pilot, app, turns=2)
        prompt = str(scripted.made["large"].requests[-1].prompt)
        assert "And 4 + 4?" in prompt and "What is 2 + 3?" not in prompt


async def test_the_conversation_carries_earlier_answers() -> None:
    scripted = Scripted(runs=2)
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        await ask(pilot, "Double it.")
        await wait_turn_done(pilot, app, turns=2)
        started = next(e for e in app.chat.session.turns[-1].events if isinstance(e, RunStarted))
        assert [m["role"] for m in started.messages] == ["user", "assistant", "user"]
        assert started.messages[1]["content"] == app.chat.session.turns[0].answer


async def test_no_server_says_so_and_replays_the_bundled_trace() -> None:
    app = make_app(Scripted(down=True))
    async with app.run_test(size=SIZE) as pilot:
        banner = app.chat.banner
        await wait_until(pilot, lambda: bool(banner.display) and "do not answer" in banner.text)
        assert "F5" in banner.text
        await ask(pilot, "What is 2 + 3?")
        assert app.chat.session.turns == []  # refused, nothing sent
        await pilot.press("f5")
        await pilot.pause()
        app.screen.query_one("#speed").value = math.inf  # type: ignore[attr-defined]
        await pilot.press("enter")  # the bundled trace is the first entry
        await wait_turn_done(pilot, app)
        events = load_trace(bundled_trace())
        turn = app.chat.session.turns[-1]
        assert turn.source == "replay" and turn.status == "done" and turn.events == events
        view = app.chat.transcript.turns[-1]
        summary = summarize(events)
        assert view.reasoning_text.rstrip("\n") == summary.reasoning.rstrip("\n")
        speedup = str(app.chat.query_one(SpeedupPanel).content)
        assert f"switches {summary.switches}" in speedup


async def test_replay_speed_keys(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        app.chat.replay(bundled_trace(), 1.0)
        await wait_until(pilot, lambda: app.chat.pacer is not None)
        await pilot.press("plus")
        assert app.chat.pacer is not None and app.chat.pacer.speed == 2.0
        await pilot.press("minus", "minus")
        assert app.chat.pacer.speed == 0.5
        assert "0.5×" in app.chat.banner.text
        await pilot.press("escape")
        await wait_turn_done(pilot, app)
        assert app.chat.session.turns[-1].status == "cancelled"


async def test_export_writes_coloured_html_and_jsonl(scripted: Scripted) -> None:
    app = make_app(scripted, theme="relay-colorblind")
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        await pilot.press("f6")
        assert app.last_export is not None
        html_path, jsonl_path = app.last_export
        page = html_path.read_text()
        colours = app.theme_variables
        assert colours["relay-large"] in page and colours["relay-small"] in page
        assert "class='large cue'" in page and "<strong>5</strong>" in page
        record = json.loads(jsonl_path.read_text().splitlines()[0])
        assert record["question"] == "What is 2 + 3?"
        assert {s["model"] for s in record["segments"]} == {"large", "small"}
        assert any(s["cue"] for s in record["segments"])
        assert record["answer"] == ANSWER


async def test_cues_toggled_off_are_not_used_next_time() -> None:
    scripted = Scripted(runs=2)
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        selection = app.screen.query_one("#cue-list")
        selection.deselect("So,")  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.chat.settings.disabled == {"So,"}
        total = len(app.chat.settings.profile.cues)
        assert f"cues {total - 1}/{total}" in app.chat.sub_title
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        started = next(e for e in app.chat.session.turns[-1].events if isinstance(e, RunStarted))
        assert "So," not in started.cues and "Now," in started.cues


async def test_a_cue_set_file_can_be_loaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"cues": ["Then", "So,"], "rule": "hand-picked"}))
    app = make_app(Scripted())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await pilot.pause()
        app.screen.query_one("#cue-file").value = str(path)  # type: ignore[attr-defined]
        await pilot.click("#load")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.chat.settings.cues == ["Then", "So,"]
        assert app.chat.settings.cue_source == str(path)


async def test_mode_key_and_help_screen(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        assert app.chat.settings.mode == "large" and app.chat.sub_title.startswith("large")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.chat


async def test_command_palette_lists_every_control(scripted: Scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE):
        titles = {command.title for command in app.get_system_commands(app.chat)}
        expected = {
            "Cancel generation",
            "Mode: relay",
            "Mode: large",
            "Mode: small",
            "Profile…",
            "Cues…",
            "Replay…",
            "Replay bundled demo trace",
            "Export transcript",
            "Help",
            "Theme",
        }
        assert expected <= titles


async def _first_turn_view(pilot, app):  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: bool(app.chat.transcript.turns))
    return app.chat.transcript.turns[-1]
