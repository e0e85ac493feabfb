"""The projected line in the speedup panel, the race view (snapshots and pilot), and the race's clock."""

from __future__ import annotations

import math

import pytest
from textual.pilot import Pilot

from relaychat.core.trace import load_trace
from relaychat.projection.costmodel import load_cost_model
from relaychat.projection.project import project
from relaychat.projection.retime import as_large_only
from relaychat.projection.shape import shape_of
from relaychat.ui.race_app import RaceApp
from relaychat.ui.race_setup import make_race
from relaychat.ui.screens.race import RaceScreen
from relaychat.ui.screens.replay import bundled_trace
from relaychat.ui.widgets.prompt import PromptArea
from relaychat.ui.widgets.speedup_panel import SpeedupPanel
from tests.ui.conftest import SIZE, Scripted, ask, make_app, wait_turn_done, wait_until


def test_speedup_panel_with_a_projected_line(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Scripted())
    app.chat_settings.projection_target = "h200-qwen3"

    async def replay_it(pilot: Pilot[None]) -> None:
        await pilot.pause()
        app.query_one(PromptArea).cursor_blink = False
        app.chat.replay(bundled_trace(), math.inf)
        await wait_turn_done(pilot, app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=replay_it)


async def test_the_projected_line_shows_the_traces_projected_speedup() -> None:
    app = make_app(Scripted())
    app.chat_settings.projection_target = "h200-qwen3"
    async with app.run_test(size=SIZE) as pilot:
        app.chat.replay(bundled_trace(), math.inf)
        await wait_turn_done(pilot, app)
        panel = app.chat.query_one(SpeedupPanel)
        expected = project(shape_of(load_trace(bundled_trace())), load_cost_model("h200-qwen3"))
        text = str(panel.render())
        assert f"projected on h200-qwen3 {expected.projected_speedup:.2f}×" in text
        app.action_pick_target()  # F11 offers the targets, "off" removes the line
        await pilot.pause()
        await pilot.press("home", "enter")
        await pilot.pause()
        assert panel.target is None and "projected on" not in str(panel.render())


async def test_race_from_the_chat_app_reuses_or_runs_the_large_only_turn() -> None:
    scripted = Scripted(runs=2)
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "What is 2 + 3?")
        await wait_turn_done(pilot, app)
        await pilot.press("f10")  # the large server is up: a large-only turn of the same question runs
        await wait_until(pilot, lambda: isinstance(app.screen, RaceScreen), timeout=15)
        race = app.screen.race  # type: ignore[attr-defined]
        assert race.pace == "as measured" and race.alone.label.startswith("large alone")
        modes = [t.events[0].mode for t in app.chat.session.turns if t.events]  # type: ignore[union-attr]
        assert modes == ["relay", "large"] and app.chat_settings.mode == "relay"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f10")  # now it is reused: no third turn
        await wait_until(pilot, lambda: isinstance(app.screen, RaceScreen))
        assert len(app.chat.session.turns) == 2


def _finished_race_app(theme: str = "relay-dark") -> RaceApp:
    relay = load_trace(bundled_trace())
    race = make_race(relay, None, load_cost_model("h200-qwen3"))
    return RaceApp(race, theme=theme, tick=False)


def test_race_replayed_at_projected_h200_pace(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = _finished_race_app()

    async def run_to_the_end(pilot: Pilot[None]) -> None:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RaceScreen)
        screen.race.tick(10.0)
        screen.draw()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_to_the_end)


def test_race_halfway_as_measured(snap_compare) -> None:  # type: ignore[no-untyped-def]
    relay = load_trace(bundled_trace())
    alone = as_large_only(relay)  # stands in for a measured large-only run of the same question
    app = RaceApp(make_race(relay, alone, None), tick=False)

    async def halfway(pilot: Pilot[None]) -> None:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RaceScreen)
        screen.race.tick(5.0)
        screen.draw()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=SIZE, run_before=halfway)


def test_the_race_clock_finishes_each_lane_at_its_projected_time() -> None:
    relay = load_trace(bundled_trace())
    costs = load_cost_model("h200-qwen3")
    race = make_race(relay, None, costs)
    expected = project(shape_of(relay), costs)
    while not race.done:
        race.tick(0.04)
    assert race.relay.finished_at == pytest.approx(expected.relay_s)
    assert race.alone.finished_at == pytest.approx(expected.large_only_s)
    assert race.relay.tokens == race.alone.tokens == expected.tokens
    assert race.verdict() == f"relay {expected.large_only_s / expected.relay_s:.2f}× faster"
    assert "projected" in race.pace and "Qwen3-32B" in race.alone.label


def test_a_lane_renders_only_the_tail_that_fits() -> None:
    relay = load_trace(bundled_trace())
    race = make_race(relay, None, load_cost_model("h200-qwen3"))
    race.tick(100)
    runs = race.relay.tail_rows(30, 3)
    text = "".join(piece for piece, _ in runs)
    assert 0 < len(text) <= 90 and "".join(p for p, _ in race.relay.runs).endswith(text)
    with pytest.raises(ValueError, match="needs a target"):
        make_race(relay, None, None)


async def test_f12_asks_an_example_question() -> None:
    from relaychat.ui.examples import EXAMPLES

    app = make_app(Scripted())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f12")
        await pilot.pause()
        await pilot.press("enter")  # the first example
        await wait_turn_done(pilot, app)
        assert app.chat.session.turns[0].question == EXAMPLES[0]
