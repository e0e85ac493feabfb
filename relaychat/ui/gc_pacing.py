"""Keep Python's full garbage collections out of a stream.

A 32k-token trace is ~70k event objects; every full (generation 2) collection walks them all, which
measured 200-250 ms here: a visible freeze mid-stream. While a run streams, the survivors are moved
to the permanent generation every quarter second (after a cheap young collection, so little cyclic
garbage is frozen); when the run ends they are handed back to the collector. Every second was not
often enough at 1,000 tok/s: the full collections between two freezes still walked a second's worth
of survivors, 20-53 ms each; every 0.25 s none took over 20 ms in the 32k-token replay. Objects
freed by reference counting (nearly all) are freed as usual either way.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

FREEZE_EVERY_S = 0.25


class GcPacer:
    def __init__(self) -> None:
        self._last = 0.0
        self.active = False

    def start(self) -> None:
        self.active = True
        self._last = 0.0
        self.tick()

    def tick(self) -> None:
        now = time.monotonic()
        if self.active and now - self._last >= FREEZE_EVERY_S:
            self._last = now
            gc.collect(1)
            gc.freeze()

    def stop(self) -> None:
        if self.active:
            self.active = False
            gc.unfreeze()


@contextmanager
def collections_paused() -> Iterator[None]:
    """No collection while a large batch of long-lived objects is built (a trace being loaded for a
    replay). The young collections its allocations trigger escalate to full ones that walk the whole
    heap, and a collection holds the GIL even when a worker thread triggers it: two of them, 50-70 ms
    each, stalled the first frames of the 32k-token replay. The batch is then frozen like a streaming
    run's survivors; `GcPacer.stop` hands everything back to the collector when the run ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
