"""A live generation that has gone quiet says so: the time since the last token, on the banner.

A busy or stuck server otherwise looks exactly like a slow one: the cursor just stops. After
`STALL_AFTER_S` without an event the banner shows how long it has been, until the stream resumes
(the banner goes away) or the read timeout ends the run with an error.
"""

from __future__ import annotations

STALL_AFTER_S = 3.0


def stall_notice(silent_s: float, read_timeout_s: float | None = None) -> str | None:
    """The banner text for a stream silent for `silent_s` seconds, or None while that is normal."""
    if silent_s < STALL_AFTER_S:
        return None
    limit = f"; the read timeout ({read_timeout_s:g} s) ends it" if read_timeout_s else ""
    return f"no token for {silent_s:.0f} s: the server is busy or stalled (Esc cancels{limit})"
