"""The chat app against the real CPU vLLM servers: one relay generation, then a cancelled one."""

from __future__ import annotations

import asyncio

from relaychat.cli.common import make_backends
from relaychat.core.events import RunFinished, RunStarted, TokenDelta
from relaychat.core.profile import PairProfile
from relaychat.core.trace import load_trace
from relaychat.ui.app import RelayChatApp
from relaychat.ui.chat_settings import ChatSettings
from relaychat.ui.widgets.margin_panel import MarginPanel
from relaychat.ui.widgets.status_panel import StatusPanel
from tests.ui.conftest import SIZE, ask, wait_until


async def test_one_live_relay_generation_in_the_app(demo_profile: PairProfile) -> None:
    settings = ChatSettings(demo_profile, max_tokens=120, seed=7)
    app = RelayChatApp(settings, make_backends, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat
        await wait_until(pilot, lambda: chat.healthy == {"large": True, "small": True}, timeout=30)
        await ask(pilot, "What is 7 + 5?")
        await wait_until(
            pilot,
            lambda: bool(chat.session.turns) and chat.session.turns[-1].status != "running",
            timeout=240,
        )
        turn = chat.session.turns[-1]
        assert turn.status == "done", turn.events[-1]
        started = next(e for e in turn.events if isinstance(e, RunStarted))
        final = turn.events[-1]
        assert isinstance(final, RunFinished)
        summary = final.summary
        # The servers' own names, shown in the status panel.
        names = {role: (await chat.keeper.backends[role].info()).name for role in ("large", "small")}
        assert (started.large_model, started.small_model) == (names["large"], names["small"])
        status = str(chat.query_one(StatusPanel).content)
        assert names["large"] in status and names["small"] in status and status.count(" up") == 2
        # On screen: exactly the reasoning the relay produced, each stretch in its writer's style.
        view = chat.transcript.turns[-1]
        assert view.reasoning_text == summary.reasoning.rstrip("\n")
        written = {e.model for e in turn.events if isinstance(e, TokenDelta) and e.stage == "reasoning"}
        shown = {run.role for block in view.blocks for run in block.styled.runs} - {None}
        assert shown == written
        # One margin bar per generated token, and the trace on disk is what the app saw.
        assert len(chat.query_one(MarginPanel)._values) == summary.total_tokens
        assert turn.trace is not None and load_trace(turn.trace) == turn.events


async def test_esc_stops_the_servers_generating(demo_profile: PairProfile) -> None:
    settings = ChatSettings(demo_profile, mode="large", max_tokens=300, seed=3)
    app = RelayChatApp(settings, make_backends, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        chat = app.chat
        await wait_until(pilot, lambda: chat.healthy.get("large") is True, timeout=30)
        await ask(pilot, "Count slowly from one to one hundred.")
        await wait_until(
            pilot,
            lambda: bool(chat.transcript.turns) and len(chat.transcript.turns[-1].reasoning_text) > 20,
            timeout=120,
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: chat.session.turns[-1].status == "cancelled", timeout=30)
        large = chat.keeper.backends["large"]
        running = 1.0
        for _ in range(50):  # the server notices the closed stream and aborts the request
            running = (await large.metrics())["vllm:num_requests_running"]  # type: ignore[attr-defined]
            if running == 0:
                break
            await asyncio.sleep(0.1)
        assert running == 0
