"""Drive the chat app against scripted backends: deterministic relay runs, no server needed."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from textual.pilot import Pilot

from relaychat.backends.base import Backend
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.core.events import Role
from relaychat.core.profile import PairProfile, load_profile
from relaychat.ui.app import RelayChatApp
from relaychat.ui.chat_settings import ChatSettings

SIZE = (140, 44)

# One relay generation on the cpu-demo profile (cue "So," -> small finishes the sentence -> large ends).
LARGE_1 = "Let me add 2 and 3 carefully here, one step at a time. So, the"
SMALL_1 = " sum is 5. This part is discarded"
LARGE_2 = " Then we check it twice and it holds.\n</think>"
ANSWER = "The answer is **5**."


class DownBackend(ScriptedBackend):
    """A server that does not answer."""

    async def health(self) -> bool:
        return False


def relay_script(large: ScriptedBackend, small: ScriptedBackend, margin: float = 0.5) -> None:
    large.add(Reply(words(LARGE_1), margin=0.8), Reply(words(LARGE_2), margin=0.8))
    small.add(Reply(words(SMALL_1), margin=margin), Reply(words(ANSWER), margin=0.9))


class Scripted:
    """A backend factory that keeps the backends it made, so tests can script and inspect them."""

    def __init__(self, delay: float = 0.0, down: bool = False, runs: int = 1) -> None:
        self.delay = delay
        self.down = down
        self.runs = runs
        self.made: dict[Role, ScriptedBackend] = {}

    def __call__(self, profile: PairProfile) -> Mapping[Role, Backend]:
        kind = DownBackend if self.down else ScriptedBackend
        large = kind("http://127.0.0.1:1/large", name="big-model", delay=self.delay)
        small = kind("http://127.0.0.1:1/small", name="tiny-model", delay=self.delay)
        for _ in range(self.runs):
            relay_script(large, small)
        self.made = {"large": large, "small": small}
        return self.made


def make_app(factory: Callable[[PairProfile], Mapping[Role, Backend]], **kwargs: object) -> RelayChatApp:
    settings = ChatSettings(load_profile("cpu-demo"))
    return RelayChatApp(settings, factory, autostart=False, **kwargs)  # type: ignore[arg-type]


async def wait_until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10.0) -> None:
    steps = int(timeout / 0.02)
    for _ in range(steps):
        if pilot.app._exception is not None:  # a worker or handler failed: stop waiting, show it
            raise pilot.app._exception
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("the app did not get there in time")


async def wait_turn_done(pilot: Pilot[None], app: RelayChatApp, turns: int = 1) -> None:
    chat = app.chat
    await wait_until(
        pilot,
        lambda: (
            len(chat.session.turns) >= turns and chat.session.turns[-1].status != "running" and not chat.busy
        ),
    )


async def ask(pilot: Pilot[None], question: str) -> None:
    prompt = pilot.app.query_one("#prompt")
    prompt.value = question  # type: ignore[attr-defined]
    prompt.focus()
    await pilot.press("enter")


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()
