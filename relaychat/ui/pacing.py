"""The replay keys' speed ladder, on the core's replay clock (`relaychat.core.trace.Pacer`)."""

from __future__ import annotations

import math

from relaychat.core import trace

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0, math.inf)


class Pacer(trace.Pacer):
    """The core's pacer, one step up or down the ladder per key press."""

    def faster(self) -> float:
        self.speed = next((s for s in SPEEDS if s > self.speed), SPEEDS[-1])
        return self.speed

    def slower(self) -> float:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed), SPEEDS[0])
        return self.speed
