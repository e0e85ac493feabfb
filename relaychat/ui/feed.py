"""Events in, widgets out, at most ~25 times a second.

Tokens can arrive far faster than a terminal can be redrawn (and a replay runs at any speed), so the
worker only appends events here; a timer flushes the batch into the turn view and the panels.
"""

from __future__ import annotations

import time
from typing import Protocol

from relaychat.core.events import RelayEvent
from relaychat.ui.gc_pacing import GcPacer
from relaychat.ui.live_stats import LiveStats
from relaychat.ui.widgets.turn_view import TurnView

FLUSH_INTERVAL_S = 1 / 25
MAX_BATCH = 400  # events per flush: bounds the time one flush can hold the event loop
# Each side panel redraws at most this often (the text at every flush), and one panel per flush, in
# turn: four panels redrawn in the same frame cost ~12 ms of one 40 ms frame in the 1,000 tok/s replay
# (the cue table alone up to 25 ms), and statistics do not need to move faster than the eye reads.
PANEL_INTERVAL_S = 1 / 4


class Panel(Protocol):
    def show(self, stats: LiveStats) -> None: ...


class LiveFeed:
    def __init__(self, view: TurnView, panels: list[Panel], stats: LiveStats) -> None:
        self.view = view
        self.panels = panels
        self.stats = stats
        self._pending: list[RelayEvent] = []
        self.flushes = 0
        self._panels_shown = 0.0
        self.live = False  # a live generation (not a replay): its silences are reported as stalls
        self.last_event_at = time.monotonic()
        self._next_panel = 0
        self.gc = GcPacer()
        self.gc.start()

    def push(self, event: RelayEvent) -> None:
        self.last_event_at = time.monotonic()
        self.stats.add(event)
        self._pending.append(event)

    @property
    def backlog(self) -> int:
        """Events not shown yet; a replay waits while this is high (live streams never get there)."""
        return len(self._pending)

    async def flush(self, final: bool = False) -> None:
        """Show pending events; `final` also redraws the panels whatever their rate limit says."""
        if not self._pending and not final:
            return
        events, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if events:
            await self.view.apply(events)
        now = time.monotonic()
        if final:
            for panel in self.panels:
                panel.show(self.stats)
        elif self.panels and now - self._panels_shown >= PANEL_INTERVAL_S / len(self.panels):
            self._panels_shown = now
            self.panels[self._next_panel % len(self.panels)].show(self.stats)
            self._next_panel += 1
        self.flushes += 1
        self.gc.tick()
