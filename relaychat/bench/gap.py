"""The switch gap taken apart: cached floor, tail recompute, queueing behind a feed, client.

Derived from what `bench` records, at the median switch:
- client: gap minus the next model's TTFT, over handoffs not started early (`switch_client_ms`);
- cached floor: the receiving server's relay-shaped TTFT with one uncached token (the probe), weighted
  by how many switches went into each model;
- tail recompute: the expected partial KV block the receiver recomputes, block/2 x its measured
  prefill cost per token (an expectation: the unfed count of each switch is not recorded);
- queueing and the rest: what the server share has beyond floor and tail (waiting behind a feed in
  its step, the early start's overlap counted negatively). It is a remainder, not a measurement:
  telling queueing apart would need, per switch, the receiver's uncached prompt tokens (vLLM's
  `usage.prompt_tokens_details.cached_tokens`, with `--enable-prompt-tokens-details`) and whether a
  feed was in flight on it, which the relay's events do not carry yet.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from relaychat.bench.metrics import ScenarioMetrics


class GapParts(BaseModel):
    gap_ms: float
    client_ms: float
    server_ms: float
    floor_ms: float
    tail_ms: float | None
    queue_and_rest_ms: float | None


def decompose(
    m: ScenarioMetrics, floors_ms: Mapping[str, float], tails_ms: Mapping[str, float] | None = None
) -> GapParts | None:
    """None when the scenario had no switch, or no cached floor was measured for its receivers."""
    gap = m.switch_gap_ms.median
    if gap is None or not m.switch_gap_into_ms:
        return None
    weights = {role: d.n for role, d in m.switch_gap_into_ms.items() if d.n and role in floors_ms}
    total = sum(weights.values())
    if not total:
        return None
    floor = sum(floors_ms[r] * n for r, n in weights.items()) / total
    client = m.switch_client_ms.median or 0.0
    server = gap - client
    tail: float | None = None
    if tails_ms and all(r in tails_ms for r in weights):
        tail = sum(tails_ms[r] * n for r, n in weights.items()) / total
    rest = server - floor - tail if tail is not None else None
    return GapParts(
        gap_ms=gap, client_ms=client, server_ms=server, floor_ms=floor, tail_ms=tail, queue_and_rest_ms=rest
    )


def expected_tail_ms(block_size: int, prefill_ms_per_token: float) -> float:
    """The partial block a switch recomputes, on average half a block (vLLM caches whole blocks)."""
    return block_size / 2 * prefill_ms_per_token
