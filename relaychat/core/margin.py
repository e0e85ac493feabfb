"""Probability margin p1 - p2: how sure a model is of its next token (docs/how-it-works.md).

Servers report top-k *log*probabilities; the margin is taken on probabilities. vLLM's streaming top-k
is a dict keyed by token text, so it may hold k+1 entries (the sampled token outside the top k) or
fewer (two tokens with the same text collapse into one key): only the two largest values count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def margin_from_logprobs(logprobs: Iterable[float]) -> float | None:
    """p1 - p2 from the top-k logprobs of one position; None when there are none.

    With a single entry p2 is unknown; the rest of the mass (1 - p1) bounds it, so the margin returned
    is the lower bound max(0, 2*p1 - 1), never an overstatement of the model's confidence.
    """
    # One pass for the two largest, not a sort: this runs for every streamed token.
    first = second = -math.inf
    seen = 0
    for value in logprobs:
        if value is None or value != value:  # None or NaN
            continue
        seen += 1
        if value > first:
            first, second = value, first
        elif value > second:
            second = value
    if not seen:
        return None
    p1 = math.exp(min(first, 0.0))
    if seen == 1:
        return max(0.0, 2.0 * p1 - 1.0)
    p2 = math.exp(min(second, 0.0))
    return min(1.0, max(0.0, p1 - p2))
