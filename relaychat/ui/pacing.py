"""Replay with a speed the user can change while it plays (core.trace.replay takes a fixed speed)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Sequence

from relaychat.core.events import RelayEvent

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0, math.inf)


class Pacer:
    """Plays events on a virtual clock that advances `speed` times faster than the wall clock."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed

    def faster(self) -> float:
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])
        return self.speed

    def slower(self) -> float:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])
        return self.speed

    async def play(self, events: Sequence[RelayEvent]) -> AsyncIterator[RelayEvent]:
        virtual = 0.0
        last = time.perf_counter()
        for event in events:
            while True:
                now = time.perf_counter()
                virtual += (now - last) * self.speed if math.isfinite(self.speed) else math.inf
                last = now
                if virtual >= event.t:
                    break
                # Short naps, so a speed change takes effect at once.
                await asyncio.sleep(min((event.t - virtual) / self.speed, 0.05))
            virtual = min(virtual, event.t) if not math.isfinite(virtual) else virtual
            yield event
            await asyncio.sleep(0)  # even at full speed, let the UI draw between events
