"""RelayChat's Textual app: themes, the chat screen, dialogs and command-palette entries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.theme import Theme

from relaychat.core.events import Mode
from relaychat.core.profile import ProfileError, builtin_names, load_profile
from relaychat.paths import data_dir
from relaychat.ui import projection_actions
from relaychat.ui.chat_settings import MODES, ChatSettings
from relaychat.ui.export import export_html, export_jsonl
from relaychat.ui.screens.budget import BudgetScreen
from relaychat.ui.screens.chat import BackendFactory, ChatScreen
from relaychat.ui.screens.cues import CueChoice, CuesScreen
from relaychat.ui.screens.help import HelpScreen
from relaychat.ui.screens.pick import PickScreen
from relaychat.ui.screens.replay import ReplayChoice, ReplayScreen, bundled_trace
from relaychat.ui.themes import DEFAULT_THEME, RELAY_VARIABLE_DEFAULTS, load_themes, remember_theme


class RelayChatApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "RelayChat"

    def __init__(
        self,
        settings: ChatSettings,
        backend_factory: BackendFactory,
        *,
        autostart: bool = True,
        theme: str | None = None,
        replay: Path | None = None,
        replay_speed: float = 4.0,
    ) -> None:
        super().__init__()
        self.chat_settings = settings
        self.backend_factory = backend_factory
        self.autostart = autostart
        self.initial_theme = theme or DEFAULT_THEME
        self.initial_replay = replay
        self.replay_speed = replay_speed
        self.last_export: tuple[Path, Path] | None = None
        self.quitting = False
        self.farewell = ""  # printed after the screen closes (what quitting stopped)
        themes: list[Theme] = load_themes()
        for theme_ in themes:
            self.register_theme(theme_)
        self.theme = self.initial_theme if self.initial_theme in self.available_themes else DEFAULT_THEME

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(RELAY_VARIABLE_DEFAULTS)

    def get_default_screen(self) -> ChatScreen:
        return ChatScreen(self.chat_settings, self.backend_factory, self.autostart)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, lambda theme: remember_theme(theme.name))
        if self.chat_settings.projection_target:
            target = self.chat_settings.projection_target
            self.call_after_refresh(projection_actions.set_target, self, target, quiet=True)
        if self.initial_replay is not None:
            self.chat.replay(self.initial_replay, self.replay_speed)

    @property
    def chat(self) -> ChatScreen:
        return next(s for s in self.screen_stack if isinstance(s, ChatScreen))

    # -- quitting -----------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit; servers this app started are stopped first, both at once, with the screen saying so."""
        if self.quitting:
            return
        self.quitting = True
        chat = self.chat
        if any(keeper.owns_servers for keeper in chat.keepers):
            chat.action_cancel()  # a running answer ends as cancelled, not as a failure of its server
            chat.banner.say(
                "Quitting: stopping the servers RelayChat started (both at once, a few seconds)…",
                kind="warning",
            )
            self.run_worker(self._stop_then_exit(), group="quit", exclusive=True)
        else:
            self.exit()

    async def _stop_then_exit(self) -> None:
        try:
            await asyncio.gather(*(keeper.stop_now() for keeper in self.chat.keepers))
            self.farewell = "RelayChat: the servers it started are stopped."
        finally:
            self.exit()

    # -- dialogs ------------------------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_pick_profile(self) -> None:
        current = self.chat_settings.profile.name
        items = [(name, name) for name in builtin_names()]
        self.push_screen(PickScreen("Model-pair profile", items, current), self._use_profile)

    def _use_profile(self, name: str | None) -> None:
        if not name or name == self.chat_settings.profile.name:
            return
        try:
            profile = load_profile(name)
        except ProfileError as exc:
            self.notify(str(exc), severity="error")
            return
        self.chat.set_profile(profile)
        self.notify(f"profile: {name}")

    def action_edit_cues(self) -> None:
        s = self.chat_settings
        self.push_screen(CuesScreen(s.cues, s.disabled, s.cue_source), self._use_cues)

    def _use_cues(self, choice: CueChoice | None) -> None:
        if choice is not None:
            self.chat.set_cues(choice.cues, choice.disabled, choice.source)
            self.notify(
                f"{len(choice.cues) - len(choice.disabled)} of {len(choice.cues)} cues on (next generation)"
            )

    def action_pick_replay(self) -> None:
        if self.chat.busy:
            self.notify("a generation is running: Esc cancels it first", severity="warning")
            return
        self.push_screen(ReplayScreen(), self._start_replay)

    def _start_replay(self, choice: ReplayChoice | None) -> None:
        if choice is not None:
            self.chat.replay(choice.path, choice.speed)

    def action_pick_target(self) -> None:
        projection_actions.pick_target(self)

    def action_examples(self) -> None:
        projection_actions.pick_example(self)

    def action_race(self) -> None:
        self.run_worker(projection_actions.race_current_turn(self), group="race", exclusive=True)

    def action_set_budget(self) -> None:
        s = self.chat_settings
        self.push_screen(BudgetScreen(s.max_tokens, s.profile.max_tokens), self._use_budget)

    def _use_budget(self, value: int | None) -> None:
        if value is not None:
            self.chat.set_budget(value or None)

    def export_transcript(self) -> tuple[Path, Path] | None:
        turns = self.chat.session.turns
        if not turns:
            self.notify("nothing to export yet", severity="warning")
            return None
        stem = data_dir() / "exports" / f"relaychat-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
        colours = dict(self.theme_variables)
        paths = (
            export_html(turns, stem.with_suffix(".html"), colours),
            export_jsonl(turns, stem.with_suffix(".jsonl")),
        )
        self.last_export = paths
        # The folder goes in the banner above the prompt: a long path wrapped in a toast was drawn
        # under the prompt, and "where did it go" is the one thing the user needs.
        self.chat.banner.say(f"exported to {paths[0].parent}/: {paths[0].name} and {paths[1].name}")
        self.chat.set_timer(15, lambda: self.chat.banner.hide_if(paths[0].name))
        return paths

    # -- command palette ----------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        chat = self.chat
        yield SystemCommand(
            "Cancel generation", "Stop the running generation or replay (Esc)", chat.action_cancel
        )
        for mode in MODES:
            yield SystemCommand(f"Mode: {mode}", _MODE_HELP[mode], partial(chat.set_mode, mode))
        yield SystemCommand("Profile…", "Pick the model pair (F3)", self.action_pick_profile)
        for name in builtin_names():
            yield SystemCommand(
                f"Profile: {name}", "Use this model pair", partial(self._use_profile, name), False
            )
        yield SystemCommand("Cues…", "Toggle cues or load a cue-set file (F4)", self.action_edit_cues)
        yield SystemCommand(
            "New conversation",
            "Later questions go without the earlier turns (Ctrl+N)",
            chat.action_new_conversation,
        )
        yield SystemCommand(
            "Restart servers",
            "Start again the servers RelayChat started that stopped answering (Ctrl+R)",
            chat.action_restart_servers,
        )
        yield SystemCommand("Budget…", "Token budget of the next generation (F8)", self.action_set_budget)
        yield SystemCommand(
            "Copy answer", "Copy the last answer to the clipboard (F9)", chat.action_copy_answer
        )
        yield SystemCommand("Toggle panels", "Show or hide the side panels (F7)", chat.action_toggle_panels)
        yield SystemCommand(
            "Sort cue table", "Next sort column of the cue hits (s in the table)", chat.sort_cues
        )
        yield SystemCommand("Replay…", "Replay a saved trace without a server (F5)", self.action_pick_replay)
        yield SystemCommand(
            "Replay bundled demo trace",
            "Play the trace shipped with RelayChat",
            lambda: chat.replay(bundled_trace(), self.replay_speed),
        )
        yield SystemCommand(
            "Export transcript", "HTML with colours + JSONL, in the data folder (F6)", self.export_transcript
        )
        yield from projection_actions.projection_commands(self)
        yield SystemCommand("Help", "Keys and how to read the screen (F1)", self.action_help)


_MODE_HELP: dict[Mode, str] = {
    "relay": "Large and small model relay the reasoning (next generation)",
    "large": "Large model only (next generation)",
    "small": "Small model only (next generation)",
}
