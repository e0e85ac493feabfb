"""Events in, widgets out, at most ~25 times a second.

Tokens can arrive far faster than a terminal can be redrawn (and a replay runs at any speed), so the
worker only appends events here; a timer flushes the batch into the turn view and the panels.
"""

from __future__ import annotations

from typing import Protocol

from relaychat.core.events import RelayEvent
from relaychat.ui.live_stats import LiveStats
from relaychat.ui.widgets.turn_view import TurnView

FLUSH_INTERVAL_S = 1 / 25


class Panel(Protocol):
    def show(self, stats: LiveStats) -> None: ...


class LiveFeed:
    def __init__(self, view: TurnView, panels: list[Panel], stats: LiveStats) -> None:
        self.view = view
        self.panels = panels
        self.stats = stats
        self._pending: list[RelayEvent] = []
        self.flushes = 0

    def push(self, event: RelayEvent) -> None:
        self.stats.add(event)
        self._pending.append(event)

    async def flush(self) -> None:
        if not self._pending:
            return
        events, self._pending = self._pending, []
        await self.view.apply(events)
        for panel in self.panels:
            panel.show(self.stats)
        self.flushes += 1
