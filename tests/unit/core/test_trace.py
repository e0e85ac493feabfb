"""The one replay clock: saved events at their pace divided by the speed, which may change while playing."""

from __future__ import annotations

import math

from relaychat.core.events import RelayEvent, StageChanged
from relaychat.core.trace import Pacer, replay


class FakeTime:
    """A clock that only moves when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.naps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now += seconds


def events(*times: float) -> list[RelayEvent]:
    return [StageChanged(t=t, stage="reasoning") for t in times]


async def played_at(pacer: Pacer, fake: FakeTime, saved: list[RelayEvent]) -> list[float]:
    return [fake.now async for _ in pacer.play(saved)]


async def test_events_come_at_their_time_divided_by_the_speed() -> None:
    fake = FakeTime()
    at = await played_at(Pacer(2.0, clock=fake.clock, sleep=fake.sleep), fake, events(0.0, 0.1, 1.0))
    assert [round(t, 6) for t in at] == [0.0, 0.05, 0.5]
    assert max(fake.naps) <= 0.05  # short naps: a speed change takes effect at once


async def test_a_speed_change_while_playing_applies_from_then_on() -> None:
    fake = FakeTime()
    pacer = Pacer(1.0, clock=fake.clock, sleep=fake.sleep)
    at = []
    async for event in pacer.play(events(1.0, 2.0)):
        at.append(fake.now)
        if event.t == 1.0:
            pacer.speed = 4.0
    assert [round(t, 6) for t in at] == [1.0, 1.25]


async def test_infinite_speed_waits_for_nothing_but_yields_between_events() -> None:
    fake = FakeTime()
    at = await played_at(Pacer(math.inf, clock=fake.clock, sleep=fake.sleep), fake, events(5.0, 9.0))
    assert at == [0.0, 0.0] and fake.naps == [0, 0]


async def test_replay_at_speed_zero_plays_everything_at_once_in_order() -> None:
    saved = events(0.0, 30.0, 60.0)
    assert [e async for e in replay(saved, 0)] == saved
