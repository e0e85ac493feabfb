"""F5: pick a trace (the bundled demo, this machine's saved runs, or a path) and a speed."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, Select
from textual.widgets.option_list import Option

from relaychat.inert import inert
from relaychat.paths import data_dir
from relaychat.ui.pacing import SPEEDS
from relaychat.ui.trace_label import trace_label

MAX_LISTED = 40


def bundled_trace() -> Path:
    return Path(str(files("relaychat.ui") / "samples" / "demo-trace.jsonl"))


def saved_traces() -> list[Path]:
    """Saved runs, newest first: `relaychat run` traces and the chat sessions' traces."""
    root = data_dir()
    found = [*root.glob("traces/*.jsonl"), *root.glob("sessions/*/*.jsonl")]
    found = [p for p in found if p.name != "session.jsonl"]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)[:MAX_LISTED]


@dataclass
class ReplayChoice:
    path: Path
    speed: float


class ReplayScreen(ModalScreen[ReplayChoice | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        options = [Option(f"bundled demo trace ({bundled_trace().name})", id=str(bundled_trace()))]
        # A trace's question is data from a file: shown as plain text, never as markup.
        options += [Option(Content(inert(trace_label(p))), id=str(p)) for p in saved_traces()]
        with Vertical(classes="dialog"):
            yield Label("Replay a trace (no server needed)", classes="dialog-title")
            yield OptionList(*options, id="traces")
            with Horizontal(classes="row"):
                yield Input(placeholder="…or a trace file path", id="trace-path")
                yield Select(
                    [(("max" if s == float("inf") else f"{s:g}×"), s) for s in SPEEDS],
                    value=4.0,
                    allow_blank=False,
                    id="speed",
                )
                yield Button("Play", variant="primary", id="play")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def _speed(self) -> float:
        return float(self.query_one(Select).value)  # type: ignore[arg-type]

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(ReplayChoice(Path(str(event.option.id)), self._speed()))

    @on(Button.Pressed, "#play")
    @on(Input.Submitted, "#trace-path")
    def play(self) -> None:
        typed = self.query_one("#trace-path", Input).value.strip()
        if typed:
            path = Path(typed).expanduser()
        else:
            options = self.query_one(OptionList)
            if options.highlighted is None:
                return
            path = Path(str(options.get_option_at_index(options.highlighted).id))
        if not path.is_file():
            self.notify(f"no trace at {path}", severity="error")
            return
        self.dismiss(ReplayChoice(path, self._speed()))
