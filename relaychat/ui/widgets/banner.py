"""A one-line notice above the prompt: server start-up progress, no server, replay speed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import ProgressBar, Static


class Banner(Vertical):
    def compose(self) -> ComposeResult:
        yield Static("", id="banner-text")
        yield ProgressBar(total=1.0, show_eta=False, id="banner-progress")

    def on_mount(self) -> None:
        self.hide()

    def say(self, message: str | Content, progress: float | None = None, kind: str = "info") -> None:
        self.display = True
        self.set_class(kind == "error", "-error")
        self.set_class(kind == "warning", "-warning")
        self.query_one("#banner-text", Static).update(message)
        bar = self.query_one(ProgressBar)
        bar.display = progress is not None
        if progress is not None:
            bar.update(progress=progress)

    def hide(self) -> None:
        self.display = False

    def hide_if(self, fragment: str) -> None:
        """Hide only if the banner still says `fragment` (a later notice stays)."""
        if fragment in self.text:
            self.hide()

    @property
    def text(self) -> str:
        return str(self.query_one("#banner-text", Static).content)
