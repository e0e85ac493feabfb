"""F8: the token budget of the next generation (empty: the profile's own)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

MIN_BUDGET = 16


class BudgetScreen(ModalScreen[int | None]):
    """Dismisses with the new budget, 0 for the profile's default, or None when closed unchanged."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, current: int | None, default: int) -> None:
        super().__init__()
        self.current, self.default = current, default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Token budget of the next generation", classes="dialog-title")
            yield Static(
                f"Reasoning and answer together. Empty: the profile's {self.default}. Enter applies."
            )
            yield Input(str(self.current or ""), placeholder=str(self.default), type="integer", id="budget")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#budget")
    def apply(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.dismiss(0)
            return
        value = int(text)
        if value < MIN_BUDGET:
            self.notify(f"a budget below {MIN_BUDGET} tokens leaves no room for an answer", severity="error")
            return
        self.dismiss(value)
