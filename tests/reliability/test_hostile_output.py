"""Rows 2 and 3: model output with escape sequences and HTML is shown inert, in every front end."""

from __future__ import annotations

from pathlib import Path

from relaychat.core.events import RunFinished, RunStarted, RunSummary, StageChanged, TokenDelta
from relaychat.ui.export import export_html
from relaychat.ui.session import Turn
from tests.fakes.fault_server import Fault
from tests.reliability.conftest import HOSTILE, Pair, relaychat, traces

ESCAPES = ("\x1b", "\x07", "\x9b")


def _hostile_run(pair: Pair, home: Path) -> tuple[str, Path]:
    pair.large.plan(Fault(text=f"Let me see. {HOSTILE} ok</think>"))
    pair.small.plan(Fault(text=f"Answer: {HOSTILE}"))
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi")
    assert result.returncode == 0, result.stderr
    return result.stdout, traces(home)[-1]


def test_run_and_replay_show_control_sequences_inert(pair: Pair, _isolated_home: Path) -> None:
    shown, trace = _hostile_run(pair, _isolated_home)
    assert not any(c in shown for c in ESCAPES), repr(shown)
    assert "␛[2J" in shown and "␛]0;pwned␇" in shown  # visible, not executed
    replayed = relaychat("replay", str(trace), "--speed", "0")
    assert replayed.returncode == 0, replayed.stderr
    assert not any(c in replayed.stdout for c in ESCAPES)
    assert "␛[31mred" in replayed.stdout


def test_the_cue_inspector_shows_control_sequences_inert(pair: Pair, _isolated_home: Path) -> None:
    _, trace = _hostile_run(pair, _isolated_home)
    inspected = relaychat("cues", "inspect", str(trace))
    assert inspected.returncode == 0, inspected.stderr
    assert not any(c in inspected.stdout for c in ESCAPES)
    assert "␛[2J" in inspected.stdout


def test_the_html_export_runs_no_script_from_a_model_answer(tmp_path: Path) -> None:
    answer = "**4**\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)> [x](javascript:alert(3))"
    events = [
        RunStarted(
            t=0, run_id="r", mode="relay", profile="p", large_model="L", small_model="S",
            answer_model="small", messages=[], max_tokens=10, cues=[], handoff="text",
        ),
        TokenDelta(t=0.1, model="large", segment=0, stage="reasoning", text="<script>alert(0)</script>"),
        StageChanged(t=0.2, stage="answer"),
        TokenDelta(t=0.3, model="small", segment=1, stage="answer", text=answer),
        RunFinished(t=0.4, summary=RunSummary(mode="relay", profile="p")),
    ]  # fmt: skip
    turn = Turn(question="<b>q</b>", events=events, status="done")
    page = export_html([turn], tmp_path / "t.html", {}).read_text()
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered and 'href="javascript' not in lowered
    assert (
        "&lt;script&gt;alert(1)" in page and "<strong>4</strong>" in page
    )  # shown as text; Markdown still works


HOSTILE_ID = "evil\x1b]0;pwned\x07\x1b[2J\x9bmodel"


def test_a_hostile_model_id_is_inert_in_run_traces_and_the_html_export(
    pair: Pair, _isolated_home: Path, tmp_path: Path
) -> None:
    """The HTML export escaped the name but kept its raw ESC and BEL bytes."""
    from relaychat.core.trace import load_trace

    pair.large.model = pair.small.model = HOSTILE_ID
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi")
    assert result.returncode == 0, result.stderr
    assert not any(c in result.stdout + result.stderr for c in ESCAPES)
    assert "evil␛]0;pwned␇" in result.stdout
    trace = traces(_isolated_home)[-1]
    assert not any(c.encode() in trace.read_bytes() for c in ("\x1b", "\x07"))  # JSON-escaped on disk
    turn = Turn(question="q", events=load_trace(trace), status="done")
    page = export_html([turn], tmp_path / "t.html", {}).read_text(encoding="utf-8")
    assert not any(c in page for c in ESCAPES), "raw control bytes in the HTML export"
    assert "evil␛]0;pwned␇" in page


def test_a_hostile_error_body_is_inert_on_the_terminal(pair: Pair, _isolated_home: Path) -> None:
    pair.large.plan(Fault(kind="status", status=400, text="bad \x1b]0;pwned\x07\x1b[2J request"))
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "hi")
    assert result.returncode == 1
    assert not any(c in result.stdout + result.stderr for c in ESCAPES), repr(result.stderr)
    assert "␛]0;pwned␇" in " ".join(result.stderr.split())
