"""When a routine feed is due while one model writes: the schedule of one segment's feeds.

Feeds (`PrefillAhead`) fill the idle server's prefix cache a whole KV block at a time. With token-id
handoffs the idle model's prompt length is known, so a feed is due each time the prompt crosses a
multiple of `every` (with `every` = the server's block size, every feed completes a block). With text
handoffs the receiver's token count is unknown here: every eighth of `every` tokens a feed asks the
idle server to count (it tokenizes off its engine) and sends only a new whole block. A pending cut
makes a feed due at once, whatever the schedule.
"""

from __future__ import annotations

from relaychat.core.events import Role


class FeedSchedule:
    def __init__(self, idle: Role, every: int, ids_before: int | None) -> None:
        """`ids_before`: token ids the idle model's prompt holds before this segment's tokens (None for
        text handoffs)."""
        self.idle = idle
        self.every = every
        self._ids_before = ids_before
        self.fed_upto = 0  # tokens of this segment the last feed covered

    def due(self, emitted: int, pending: bool) -> bool:
        """A feed is due after `emitted` kept tokens: something new, and a pending cut or the schedule."""
        return emitted > self.fed_upto and (pending or self._routine_due(emitted))

    def fed(self, emitted: int) -> None:
        self.fed_upto = emitted

    def _routine_due(self, emitted: int) -> bool:
        if self._ids_before is None:
            return emitted - self.fed_upto >= max(self.every // 8, 1)
        done, every = self._ids_before, self.every
        return (done + emitted) // every > (done + self.fed_upto) // every
