"""The question box: several lines (a paste keeps every line), Enter sends, Ctrl+J or Alt+Enter adds a line.

A one-line `Input` kept only the first line of a pasted word problem, silently. From here the keys that
move through the conversation (PageUp/PageDown, Ctrl+Home/Ctrl+End, and Home/End while the box is empty)
scroll the transcript, so nobody has to leave the prompt to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

PLACEHOLDER = "Ask something… (Enter sends · Ctrl+J new line · Esc cancels)"


class PromptArea(TextArea):
    """A `TextArea` that sends on Enter; every other editing key works as in any text box."""

    BINDINGS = [
        Binding("ctrl+j,alt+enter,shift+enter", "newline", "New line", show=False),
        Binding("pageup", "screen.scroll_transcript('page_up')", "Scroll up", show=False),
        Binding("pagedown", "screen.scroll_transcript('page_down')", "Scroll down", show=False),
        Binding("ctrl+home", "screen.scroll_transcript('home')", "Top", show=False),
        Binding("ctrl+end", "screen.scroll_transcript('end')", "Bottom", show=False),
        Binding("home", "home", "Line start / top", show=False),
        Binding("end", "end", "Line end / bottom", show=False),
        # TextArea's own F6/F7 (select line / all) would shadow the app's keys while typing.
        Binding("f6", "screen.export", show=False),
        Binding("f7", "screen.toggle_panels", "Panels"),
    ]

    @dataclass
    class Submitted(Message):
        """Enter was pressed: `value` is the whole text, every line of it."""

        prompt: PromptArea
        value: str

        @property
        def control(self) -> PromptArea:
            return self.prompt

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            soft_wrap=True,
            show_line_numbers=False,
            highlight_cursor_line=False,
            compact=True,
            placeholder=PLACEHOLDER,
            tab_behavior="focus",
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def value(self) -> str:
        """The text (as `Input.value`), so code and tests written for the one-line prompt still read it."""
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def clear(self) -> None:  # type: ignore[override]
        self.load_text("")

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter" and not self.read_only:
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        if not self.read_only:
            result = self.replace("\n", *self.selection)
            self.move_cursor(result.end_location)

    async def action_home(self) -> None:
        if self.text:
            self.action_cursor_line_start()
        else:
            await self.screen.run_action("scroll_transcript('home')")

    async def action_end(self) -> None:
        if self.text:
            self.action_cursor_line_end()
        else:
            await self.screen.run_action("scroll_transcript('end')")
