"""The scrolling conversation. Anchored: it follows new text only while the user is at the bottom."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from relaychat.ui.widgets.turn_view import TurnView

WELCOME = Content.assemble(
    ("RelayChat", "bold $primary"),
    " — a large and a small model relay one answer.\n",
    ("■ large model", "$relay-large"),
    "  ",
    ("■ small model", "$relay-small"),
    "  ",
    ("underlined", "bold underline"),
    (" = the cue that handed over\n", "$relay-muted"),
    (
        "Type or paste a question, Enter sends (Ctrl+J: new line). "
        "F1 keys · F2 mode · F5 replay · F7 panels · Ctrl+N new chat · Ctrl+P all commands",
        "$relay-muted",
    ),
)


class Transcript(VerticalScroll):
    def on_mount(self) -> None:
        self.mount(Static(WELCOME, classes="welcome"))
        self.anchor()

    async def add_turn(self, question: str, label: str = "you") -> TurnView:
        view = TurnView(question, label)
        await self.mount(view)
        self.anchor()  # a new question always jumps to the bottom
        return view

    async def add_divider(self, text: str) -> None:
        await self.mount(Static(Content.styled(f"── {text} ──", "$relay-muted"), classes="divider"))
        self.anchor()

    @property
    def turns(self) -> list[TurnView]:
        return list(self.query(TurnView))
