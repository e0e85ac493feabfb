"""The main screen after a replayed run, in every bundled theme, at a fixed size (pytest-textual-snapshot).

Update after an intended visual change: .venv/bin/pytest tests/ui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import math

import pytest
from textual.pilot import Pilot

from relaychat.ui.app import RelayChatApp
from relaychat.ui.screens.replay import bundled_trace
from relaychat.ui.themes import load_themes
from relaychat.ui.widgets.prompt import PromptArea
from tests.ui.conftest import SIZE, Scripted, make_app, wait_turn_done

THEMES = sorted(theme.name for theme in load_themes())


async def settled(pilot: Pilot[None], app: RelayChatApp) -> None:
    """After a turn: the answer's final Markdown render (a worker) and the transcript's scroll are done."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    app.chat.transcript.scroll_end(animate=False, immediate=True)  # follow-the-end may not have run yet
    await pilot.pause(0.3)


def test_bundled_themes_exist() -> None:
    assert {"relay-dark", "relay-light", "relay-colorblind"} <= set(THEMES)


@pytest.mark.parametrize("theme", THEMES)
def test_main_screen_after_a_replay(snap_compare, theme: str) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Scripted(), theme=theme)

    async def replay_it(pilot: Pilot[None]) -> None:
        await pilot.pause()
        app.query_one(PromptArea).cursor_blink = False
        app.chat.replay(bundled_trace(), math.inf)
        await wait_turn_done(pilot, app)
        await settled(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=replay_it)


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=["80x24", "100x30"])
def test_small_terminals_keep_the_conversation_usable(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """At 80x24 the side panels start hidden (F7 shows them); at 100x30 they are narrower; the footer fits."""
    app = make_app(Scripted(), theme="relay-dark")

    async def replay_it(pilot: Pilot[None]) -> None:
        await pilot.pause()
        app.query_one(PromptArea).cursor_blink = False
        app.chat.replay(bundled_trace(), math.inf)
        await wait_turn_done(pilot, app)
        await settled(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=replay_it)


def test_small_terminal_with_the_panels_shown(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Scripted(), theme="relay-dark")

    async def show_panels(pilot: Pilot[None]) -> None:
        await pilot.pause()
        app.query_one(PromptArea).cursor_blink = False
        await pilot.press("f7")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=show_panels)
