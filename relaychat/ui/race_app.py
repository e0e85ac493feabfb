"""`relaychat race`: the race view on its own, for two saved traces (no server, no chat)."""

from __future__ import annotations

from textual.app import App

from relaychat.ui.race import Race
from relaychat.ui.screens.race import RaceScreen
from relaychat.ui.themes import DEFAULT_THEME, RELAY_VARIABLE_DEFAULTS, load_themes


class RaceApp(App[None]):
    TITLE = "RelayChat race"

    def __init__(self, race: Race, theme: str | None = None, tick: bool = True) -> None:
        super().__init__()
        self.race = race
        self._tick = tick
        for theme_ in load_themes():
            self.register_theme(theme_)
        wanted = theme or DEFAULT_THEME
        self.theme = wanted if wanted in self.available_themes else DEFAULT_THEME

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(RELAY_VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        self.push_screen(RaceScreen(self.race, tick=self._tick), lambda _: self.exit())
