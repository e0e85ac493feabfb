"""When a failed request is worth another try, and how long to wait first (eval and calibrate share it).

A 4xx rejection (`http`: context too long, a bad parameter) fails the same way again, so it is not
retried. A busy server (HTTP 429/503, `busy`) is, and its `Retry-After` is honoured: the wait is the
exponential back-off or what the server asked for, whichever is longer.
"""

from __future__ import annotations

NO_RETRY_KINDS = frozenset({"http"})


def retryable(kind: str | None) -> bool:
    return kind not in NO_RETRY_KINDS


def backoff_s(attempt: int, base_s: float, retry_after_s: float | None = None) -> float:
    """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
    wait = base_s * 2 ** (attempt - 1)
    return max(wait, retry_after_s) if retry_after_s is not None else wait
