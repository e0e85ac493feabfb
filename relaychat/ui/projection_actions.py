"""The chat app's projection, race and example actions, kept out of app.py: pick the target the
speedup panel projects onto (F11), race the current turn against the large model alone (F10), and ask
an example question that shows the relay well (F12)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from textual.app import SystemCommand

from relaychat.core.events import RelayEvent, RunFinished, RunStarted
from relaychat.projection.costmodel import (
    DEFAULT_TARGET,
    CostModel,
    CostModelError,
    bundled_names,
    load_cost_model,
)
from relaychat.ui.examples import EXAMPLES
from relaychat.ui.race_setup import make_race
from relaychat.ui.screens.pick import PickScreen
from relaychat.ui.screens.race import RaceScreen
from relaychat.ui.session import Turn
from relaychat.ui.widgets.prompt import PromptArea
from relaychat.ui.widgets.speedup_panel import SpeedupPanel

# The chat app (relaychat.ui.app imports this module, so it is not imported back here).
RelayChatApp = Any

OFF = "off"


def target_items() -> list[tuple[str, str]]:
    items = [(OFF, "off: no projected line")]
    for name in bundled_names():
        items.append((name, f"{name}: {load_cost_model(name).title}"))
    return items


def current_target(app: RelayChatApp) -> CostModel | None:
    return app.chat.query_one(SpeedupPanel).target


def set_target(app: RelayChatApp, name: str | None, quiet: bool = False) -> None:
    """Project onto `name` (a bundled table or a cost-model file); "off" or None removes the line."""
    if name is None:
        return
    panel = app.chat.query_one(SpeedupPanel)
    if name == OFF:
        panel.target = None
    else:
        try:
            panel.target = load_cost_model(name)
        except CostModelError as exc:
            app.notify(str(exc), severity="error")
            return
    if app.chat.last_stats is not None:
        panel.show(app.chat.last_stats)
    if not quiet:
        app.notify(f"projected on: {name}" if name != OFF else "projection off")


def pick_target(app: RelayChatApp) -> None:
    current = current_target(app)
    app.push_screen(
        PickScreen("Project the speedup onto", target_items(), current.name if current else OFF),
        partial(set_target, app),
    )


def _relay_turn(turns: list[Turn]) -> Turn | None:
    for turn in reversed(turns):
        started = next((e for e in turn.events if isinstance(e, RunStarted)), None)
        if started and started.mode == "relay" and isinstance(turn.events[-1], RunFinished):
            return turn
    return None


def _alone_turn(turns: list[Turn], question: str) -> list[RelayEvent] | None:
    for turn in reversed(turns):
        started = next((e for e in turn.events if isinstance(e, RunStarted)), None)
        if (
            started
            and started.mode == "large"
            and turn.question == question
            and isinstance(turn.events[-1], RunFinished)
        ):
            return turn.events
    return None


async def race_current_turn(app: RelayChatApp) -> None:
    """Race the latest finished relay turn against the large model alone on the same question:
    a large-only turn of the same question is reused, else one is run now (it joins the transcript)
    when the large server answers; without one, the relay's own tokens race at the large model's
    projected pace (the target's, or the default table)."""
    chat = app.chat
    if chat.busy:
        app.notify("a generation is running: Esc cancels it first", severity="warning")
        return
    relay = _relay_turn(chat.session.turns)
    if relay is None:
        app.notify("no finished relay turn to race yet: ask something in relay mode", severity="warning")
        return
    target = current_target(app)
    alone = _alone_turn(chat.session.turns, relay.question)
    if alone is None and chat.healthy.get("large"):
        app.notify("running the large model alone on the same question for the race…")
        mode = chat.settings.mode
        chat.settings.mode = "large"
        try:
            await chat.generate(relay.question).wait()
        finally:
            chat.settings.mode = mode
        alone = _alone_turn(chat.session.turns, relay.question)
    if alone is None and target is None:
        target = load_cost_model(DEFAULT_TARGET)
    app.push_screen(RaceScreen(make_race(relay.events, alone, target)))


def pick_example(app: RelayChatApp) -> None:
    items = [(str(i), question) for i, question in enumerate(EXAMPLES)]
    app.push_screen(PickScreen("Ask an example question", items), partial(ask_example, app))


def ask_example(app: RelayChatApp, choice: str | None) -> None:
    """Put the example in the prompt and send it, as if typed."""
    if choice is None:
        return
    prompt = app.chat.prompt
    prompt.value = EXAMPLES[int(choice)]
    prompt.post_message(PromptArea.Submitted(prompt, prompt.value))


def projection_commands(app: RelayChatApp) -> Iterable[SystemCommand]:
    yield SystemCommand(
        "Projection target…", "Project the speedup onto a GPU pair's costs (F11)", partial(pick_target, app)
    )
    for name in bundled_names():
        yield SystemCommand(
            f"Projected on: {name}",
            "Add the 'projected on' line to the speedup panel",
            partial(set_target, app, name),
            False,
        )
    yield SystemCommand(
        "Example questions…", "Questions that show the relay well on the demo pair (F12)", app.action_examples
    )
    for i, question in enumerate(EXAMPLES):
        yield SystemCommand(
            f"Ask: {question}", "Send this example question", partial(ask_example, app, str(i)), False
        )
    yield SystemCommand(
        "Race: relay vs large alone",
        "The current turn side by side with the large model alone, to the finish line (F10)",
        app.action_race,
    )
