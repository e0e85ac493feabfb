"""The physical floor of a switch: a server's time to first token on a prompt it has fully cached.

A perfectly warm handoff cannot beat this, so the switch gap is reported against it. The probe sends
the same prompt several times and keeps the median TTFT of the repeats (the first request fills the
cache). Its length (~300 tokens) is that of a relay prompt at a switch with a few-hundred-token
budget: the floor grows with the context.
"""

from __future__ import annotations

import statistics
import time

from relaychat.backends.base import Backend, CompletionRequest, StreamChunk

PROBE_TEXT = " ".join(f"Step {i}: add {i} to the running total and write it down." for i in range(1, 18))


async def cached_ttft_s(backend: Backend, repeats: int = 4) -> float:
    request = CompletionRequest(prompt=PROBE_TEXT, max_tokens=1, logprobs=None, temperature=0.0)
    times: list[float] = []
    for _ in range(repeats + 1):
        sent = time.perf_counter()
        async for item in backend.stream(request):
            if isinstance(item, StreamChunk) and item.tokens:
                times.append(time.perf_counter() - sent)
                break
    return statistics.median(times[1:])
