"""A small Textual viewer for `relaychat cues inspect --tui`: browse calibration traces with margin
shading and cue marks. Standalone on purpose (its own App), so it does not touch the chat app."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Label, ListItem, ListView, Static

from relaychat.calibration.inspect_render import cue_table, legend, shaded_text
from relaychat.calibration.inspection import InspectView, load_view


class CueInspectApp(App[None]):
    """Left: the calibration's items; right: the selected trace, its legend and its cue table."""

    TITLE = "relaychat cues inspect"
    CSS = """
    #items { width: 16; border-right: solid $primary; }
    #body { padding: 0 1; }
    #source { color: $text-muted; }
    #legend, #trace { margin-bottom: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("j", "next", "next trace"),
        Binding("k", "previous", "previous trace"),
    ]

    def __init__(self, target: Path, view: InspectView, *, cue_file: Path | None = None) -> None:
        super().__init__()
        self.target = target
        self.view = view
        self.cue_file = cue_file

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            if self.view.keys:
                yield ListView(*(ListItem(Label(key), name=key) for key in self.view.keys), id="items")
            with VerticalScroll(id="body"):
                yield Static(id="source")
                yield Static(id="legend")
                yield Static(id="trace")
                yield Static(id="cues")
        yield Footer()

    def on_mount(self) -> None:
        self._show(self.view)
        if self.view.keys:
            items = self.query_one("#items", ListView)
            current = self.view.title.rpartition(" / ")[2]
            items.index = self.view.keys.index(current) if current in self.view.keys else 0
            items.focus()

    def _show(self, view: InspectView) -> None:
        self.view = view
        self.sub_title = view.title
        self.query_one("#source", Static).update(view.source)
        self.query_one("#legend", Static).update(legend(view))
        self.query_one("#trace", Static).update(shaded_text(view))
        self.query_one("#cues", Static).update(cue_table(view))

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        if event.item is not None and event.item.name:
            self._show(load_view(self.target, event.item.name, self.cue_file))

    def _move(self, step: int) -> None:
        if self.view.keys:
            items = self.query_one("#items", ListView)
            items.index = max(0, min(len(self.view.keys) - 1, (items.index or 0) + step))

    def action_next(self) -> None:
        self._move(1)

    def action_previous(self) -> None:
        self._move(-1)
