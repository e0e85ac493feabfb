"""F4: switch cues on or off for the next generation, or load a cue-set file (debugging cue sets)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, SelectionList

from relaychat.core.cueset import CueSetError, load_cue_set


@dataclass
class CueChoice:
    cues: list[str]
    disabled: set[str]
    source: str


class CuesScreen(ModalScreen[CueChoice | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close"), Binding("ctrl+s", "apply", "Apply")]

    def __init__(self, cues: list[str], disabled: set[str], source: str) -> None:
        super().__init__()
        # Not `self.disabled`: that is Textual's own reactive flag, which a non-empty set would switch on.
        self.cues, self.off, self.source = list(cues), set(disabled), source

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("", id="cue-title", classes="dialog-title")
            yield SelectionList[str](id="cue-list")
            with Horizontal(classes="row"):
                yield Input(placeholder="cue-set file (.json/.toml) to load", id="cue-file")
                yield Button("Load", id="load")
            with Horizontal(classes="row buttons"):
                yield Button("All on", id="all")
                yield Button("All off", id="none")
                yield Button("Apply", variant="primary", id="apply")
        yield Footer()

    def on_mount(self) -> None:
        self._fill()
        self.query_one(SelectionList).focus()

    def _fill(self) -> None:
        selection = self.query_one(SelectionList)
        selection.clear_options()
        selection.add_options([(repr(c) if c != c.strip() else c, c, c not in self.off) for c in self.cues])
        self.query_one("#cue-title", Label).update(f"cues from {self.source}: space toggles, Ctrl+S applies")

    @on(Button.Pressed, "#load")
    @on(Input.Submitted, "#cue-file")
    def load(self) -> None:
        path = self.query_one("#cue-file", Input).value.strip()
        try:
            cue_set = load_cue_set(path)
        except CueSetError as exc:
            self.notify(str(exc), severity="error")
            return
        self.cues, self.off, self.source = list(cue_set.cues), set(), path
        self._fill()
        self.notify(f"loaded {len(self.cues)} cues from {path}")

    @on(Button.Pressed, "#all")
    def all_on(self) -> None:
        self.query_one(SelectionList).select_all()

    @on(Button.Pressed, "#none")
    def all_off(self) -> None:
        self.query_one(SelectionList).deselect_all()

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        chosen = set(self.query_one(SelectionList).selected)
        self.dismiss(CueChoice(self.cues, {c for c in self.cues if c not in chosen}, self.source))
