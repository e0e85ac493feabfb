"""Rows 2 and 6 in the chat app, against the fault-injecting server over real HTTP: escape sequences are
shown inert, the HTML export holds no live markup, and a stalled stream shows the time since its last
token."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Markdown

from relaychat.connect import make_backends
from relaychat.core.profile import load_profile
from relaychat.ui.app import RelayChatApp
from relaychat.ui.chat_settings import ChatSettings
from tests.fakes.fault_server import Fault
from tests.reliability.conftest import HOSTILE, Pair
from tests.ui.conftest import SIZE, ask, wait_turn_done, wait_until

ESCAPES = ("\x1b", "\x07")


def _app(pair: Pair) -> RelayChatApp:
    return RelayChatApp(ChatSettings(load_profile(pair.profile)), make_backends, autostart=False)


async def test_the_chat_app_shows_a_hostile_model_inert_and_exports_it_inert(pair: Pair) -> None:
    pair.large.plan(Fault(text=f"Let me see. {HOSTILE} ok</think>"))
    pair.small.plan(Fault(text=f"Answer: {HOSTILE}"))
    app = _app(pair)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: all(app.chat.healthy.get(r) for r in ("large", "small")))
        await ask(pilot, "hi \x1b[2J")
        await wait_turn_done(pilot, app)
        view = app.chat.transcript.turns[-1]
        assert app.chat.session.turns[-1].status == "done"
        assert "␛[2J␛]0;pwned␇" in view.reasoning_text
        assert not any(c in view.reasoning_text for c in ESCAPES)
        answer = view.query_one(Markdown).source
        assert "␛[31mred" in answer and not any(c in answer for c in ESCAPES)
        paths = app.export_transcript()
        assert paths is not None
        page = Path(paths[0]).read_text().lower()
        assert "<script" not in page and "<img" not in page and "\x1b" not in page


async def test_a_stalled_stream_shows_the_time_since_its_last_token(pair: Pair) -> None:
    pair.large.plan(Fault("stall", after=2, seconds=6))
    app = _app(pair)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: all(app.chat.healthy.get(r) for r in ("large", "small")))
        await ask(pilot, "2+2?")
        await wait_until(pilot, lambda: "no token for" in app.chat.banner.text, timeout=15)
        assert "Esc cancels" in app.chat.banner.text
        await wait_turn_done(pilot, app)  # the stream resumes after the stall and the turn completes
        assert app.chat.session.turns[-1].status == "done"
        await wait_until(pilot, lambda: not app.chat.banner.display, timeout=5)  # cleared on the next tick
