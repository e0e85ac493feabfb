"""The physical floor of a switch: a server's time to first token on a prompt it has fully cached.

`bench` takes it from the servers' measured costs when they were measured within the hour
(`serving.cost_probe` measures it with the same kind of request); this probe runs otherwise.

A perfectly warm handoff cannot beat this, so the switch gap is reported against it. The probe is a
relay-shaped request (token ids, streamed, top-2 logprobs, the model's own sampling settings: a
sampled step costs more than a greedy one, 26 ms more for Gemma 3 before the launcher's top-p patch)
of 257 tokens sent several times: the first
request fills the cache, the repeats find 256 of them cached (vLLM caches whole blocks and always
recomputes at least the last token; 257 leaves exactly one to compute with blocks of 16 or 32), and
the median of their TTFTs is the floor. Its length is that of a relay prompt at a switch with a
few-hundred-token budget: the floor grows with the context.
"""

from __future__ import annotations

import statistics
import time
from contextlib import aclosing

from relaychat.backends.base import Backend, CompletionRequest, StreamChunk
from relaychat.core.profile import Sampling

PROBE_TEXT = " ".join(f"Step {i}: add {i} to the running total and write it down." for i in range(1, 40))
PROBE_TOKENS = 257


async def cached_ttft_s(backend: Backend, sampling: Sampling, repeats: int = 5) -> float:
    ids = (await backend.tokenize(PROBE_TEXT, add_special_tokens=False))[:PROBE_TOKENS]
    request = CompletionRequest(
        prompt=ids,
        max_tokens=1,
        logprobs=2,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        seed=0,
        add_special_tokens=False,
    )
    times: list[float] = []
    for _ in range(repeats + 1):
        sent = time.perf_counter()
        first: float | None = None
        async with aclosing(backend.stream(request)) as stream:
            async for item in stream:
                if first is None and isinstance(item, StreamChunk) and item.tokens:
                    first = time.perf_counter() - sent
        if first is not None:
            times.append(first)
    return statistics.median(times[1:] or times)
