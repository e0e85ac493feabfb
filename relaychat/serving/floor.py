"""The cached-TTFT floor of a server, measured one way for the cost probe and for `relaychat bench`.

A switch cannot be faster than the receiving server's time to first token on a prompt it has cached
but for its last token, so the switch gap is reported against this floor. vLLM caches whole KV
blocks and always computes at least the last token: a prompt of whole blocks + 1 tokens, sent again,
leaves exactly one token to compute. The request is the relay's own (sent through a `Backend`, the
body the relay sends: token ids, streamed, top-2 logprobs, the model's own sampling settings, a
seed): a sampled step costs more than a greedy one. The prompt starts with a nonce, so nothing of it
was cached before; it is sent once to fill the cache, then `repeats` times, and the median of those
TTFTs is the floor. The floor grows with the context; its length is a short relay prompt's.

The cost probe measures it with each server's other costs (`serving.cost_probe`); `bench` takes it
from there when it was measured within the hour, and otherwise measures it here, the same way.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import aclosing

from relaychat.backends.base import Backend, CompletionRequest, StreamChunk
from relaychat.backends.errors import BackendError, ProtocolError
from relaychat.core.profile import Sampling

FILLER = " ".join(f"Item {i}: the value {i * 7} goes in row {i % 9}." for i in range(1, 120))
FLOOR_BLOCKS = 4  # whole KV blocks of the floor prompt (+ 1 token): 129 tokens with blocks of 32
DEFAULT_BLOCK_SIZE = 32  # 4 x 32 + 1 is also whole blocks + 1 with blocks of 16 or 8
FLOOR_REPEATS = 3

Clock = Callable[[], float]


class ProbeError(RuntimeError):
    """The server did not answer a probe request as expected; the message says which."""


def floor_tokens(block_size: int) -> int:
    """The floor prompt's length: whole blocks + 1, so that resent it leaves one token to compute."""
    return FLOOR_BLOCKS * block_size + 1


async def fresh_ids(backend: Backend, count: int) -> list[int]:
    """`count` token ids of a text that starts with a nonce: nothing of it is in any cache."""
    try:
        ids = await backend.tokenize(f"{uuid.uuid4().hex} {FILLER}", add_special_tokens=False)
    except BackendError as exc:
        raise ProbeError(f"{backend.url}/tokenize failed: {exc}") from exc
    if len(ids) < count:
        raise ProbeError(f"{backend.url}/tokenize did not return {count} token ids")
    return ids[:count]


async def ttft_s(
    backend: Backend, sampling: Sampling, ids: list[int], clock: Clock = time.perf_counter
) -> float:
    """Seconds from sending a relay-shaped one-token request for `ids` to its token arriving."""
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
    sent = clock()
    first: float | None = None
    try:
        async with aclosing(backend.stream(request)) as stream:
            async for item in stream:
                if first is None and isinstance(item, StreamChunk) and (item.tokens or item.text):
                    first = clock() - sent
    except ProtocolError as exc:
        raise ProbeError(f"{backend.url} sent a malformed stream: {exc}") from exc
    if first is None:
        raise ProbeError(f"{backend.url} streamed no token")
    return first


async def cached_ttft_s(
    backend: Backend,
    sampling: Sampling,
    block_size: int | None = None,
    repeats: int = FLOOR_REPEATS,
    *,
    cached_ids: list[int] | None = None,
    clock: Clock = time.perf_counter,
) -> float:
    """The server's cached-TTFT floor in seconds (the median of `repeats` TTFTs).

    `cached_ids`: a floor-length prompt the server has just computed (the cost probe's long prompt),
    resent as it is; default a fresh one of `block_size` (default 32), sent once first to fill the cache.
    ProbeError when the server does not stream a token; other BackendErrors propagate."""
    ids = cached_ids
    if ids is None:
        ids = await fresh_ids(backend, floor_tokens(block_size or DEFAULT_BLOCK_SIZE))
        await ttft_s(backend, sampling, ids, clock)
    return statistics.median([await ttft_s(backend, sampling, ids, clock) for _ in range(max(repeats, 1))])
