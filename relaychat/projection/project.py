"""Replay a trace's token and switch structure through a cost model: time of the relay, time of the
large model alone for the same tokens, and what the switches cost.

Each segment is one request to the model that writes it: its request cost, one prefill chunk of
the tokens that model has not cached (which yields the segment's first token), then one decode step
per further token it streamed. The prefix cache
reuses whole blocks only, so a model that comes back after k tokens of the other model reads those k
tokens plus the partial block before them (cold handoff). RelayChat's warm handoffs feed the idle
server the other model's tokens while they are written, block by block, so the receiver reads only
the tokens after the last whole block; an early start sends the request before the cut is confirmed,
so its request cost overlaps the other model's last token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from relaychat.projection.costmodel import CostModel
from relaychat.projection.shape import SegmentShape, TraceShape

Handoff = Literal["cold", "warm", "as_run"]


@dataclass(frozen=True)
class Projection:
    """Seconds on the target for one trace (or a total over several)."""

    name: str
    target: str
    tokens: int
    large_tokens: int
    switches: int
    relay_s: float  # warm handoffs, as RelayChat does them
    relay_cold_s: float
    large_only_s: float
    ideal_s: float  # the relay with free switches: the first request, then every token's decode step
    measured_wall_s: float | None = None
    as_run_s: float | None = None  # warm only where the trace was warmed (for validation)

    @property
    def large_share(self) -> float:
        return self.large_tokens / self.tokens if self.tokens else 0.0

    @property
    def projected_speedup(self) -> float:
        return self.large_only_s / self.relay_s if self.relay_s else 0.0

    @property
    def cold_speedup(self) -> float:
        return self.large_only_s / self.relay_cold_s if self.relay_cold_s else 0.0

    @property
    def bound_speedup(self) -> float:
        """The token-cost bound: large alone over the relay with free switches."""
        return self.large_only_s / self.ideal_s if self.ideal_s else 0.0

    @property
    def share_bound(self) -> float:
        """1 / large share: the bound if the small model were free as well."""
        return 1 / self.large_share if self.large_share else 0.0

    @property
    def switch_overhead_s(self) -> float:
        return max(self.relay_s - self.ideal_s, 0.0)

    @property
    def cold_switch_overhead_s(self) -> float:
        return max(self.relay_cold_s - self.ideal_s, 0.0)

    @property
    def error(self) -> float | None:
        """(projected as run - measured) / measured, when the trace's wall time is known."""
        if not self.measured_wall_s or self.as_run_s is None:
            return None
        return (self.as_run_s - self.measured_wall_s) / self.measured_wall_s

    def as_json(self) -> dict[str, object]:
        return {
            "trace": self.name,
            "target": self.target,
            "tokens": self.tokens,
            "large_tokens": self.large_tokens,
            "large_share": round(self.large_share, 4),
            "switches": self.switches,
            "projected_relay_s": round(self.relay_s, 4),
            "projected_relay_cold_s": round(self.relay_cold_s, 4),
            "projected_large_only_s": round(self.large_only_s, 4),
            "projected_speedup": round(self.projected_speedup, 4),
            "cold_speedup": round(self.cold_speedup, 4),
            "bound_speedup": round(self.bound_speedup, 4),
            "share_bound": round(self.share_bound, 4),
            "switch_overhead_s": round(self.switch_overhead_s, 4),
            "cold_switch_overhead_s": round(self.cold_switch_overhead_s, 4),
            "measured_wall_s": None if self.measured_wall_s is None else round(self.measured_wall_s, 4),
            # Only on a measured cost model (the servers the trace may have run on): warm only where the
            # trace was warmed, beside its measured wall time. Against a GPU table the gap means nothing.
            "projected_as_run_s": None if self.as_run_s is None else round(self.as_run_s, 4),
            "as_run_error": None if self.error is None else round(self.error, 4),
        }


def _floor(tokens: int, block: int) -> int:
    return tokens - tokens % block


@dataclass(frozen=True)
class SegmentCost:
    """One segment on the target (ms): until its first token, then each further token's step."""

    first_ms: float
    step_ms: float
    decoded: int

    @property
    def total_ms(self) -> float:
        return self.first_ms + self.step_ms * max(self.decoded - 1, 0)


def segment_costs(shape: TraceShape, costs: CostModel, handoff: Handoff) -> list[SegmentCost]:
    """Each segment of the relay on `costs`, in order, with cold or warm handoffs."""
    block = costs.block_size
    cached = {"large": 0, "small": 0}  # tokens of its own context each server has cached
    shared = 0  # tokens of the relayed text so far
    out: list[SegmentCost] = []
    previous: SegmentShape | None = None
    for index, segment in enumerate(shape.segments):
        model = costs.role("large" if segment.model == "large" else "small")
        context = shape.prefix(segment.model) + shared
        if handoff == "warm":
            warm = index > 0
        elif handoff == "as_run":
            warm = previous is not None and previous.fed
        else:
            warm = False
        reused = _floor(cached[segment.model], block)
        if warm and cached[segment.model] > 0:
            reused = max(reused, _floor(context, block))
        uncached = max(context - reused, 1)
        early = segment.early_start and handoff != "cold"
        first = (0.0 if early else model.request_ms) + model.chunk_ms(uncached, context - uncached)
        further = max(segment.decoded - 1, 0)
        step = model.decode_span_ms(further, context + 1) / further if further else 0.0
        out.append(SegmentCost(first, step, segment.decoded))
        cached[segment.model] = context + max(segment.decoded - 1, 0)
        shared += segment.tokens
        previous = segment
    return out


def relay_seconds(shape: TraceShape, costs: CostModel, handoff: Handoff) -> float:
    """The relay's time on `costs`: the sum of its segments (one model writes at a time)."""
    return sum(c.total_ms for c in segment_costs(shape, costs, handoff)) / 1000


def large_only_seconds(shape: TraceShape, costs: CostModel) -> float:
    """The large model alone writing the same tokens: one request, the prompt, every token's step."""
    large = costs.large
    prompt = shape.prompt_tokens
    ms = large.request_ms + large.chunk_ms(prompt, 0) + large.decode_span_ms(shape.tokens - 1, prompt + 1)
    return ms / 1000


def ideal_seconds(shape: TraceShape, costs: CostModel) -> float:
    """The relay if switches cost nothing: the first request as large-only pays it, then each
    token at its writer's decode step."""
    first = costs.role("large" if shape.segments[0].model == "large" else "small")
    context = shape.prompt_tokens
    ms = first.request_ms + first.chunk_ms(context, 0) - first.decode_ms(context)  # brings token 1
    for segment in shape.segments:
        ms += costs.role("large" if segment.model == "large" else "small").decode_span_ms(
            segment.tokens, context
        )
        context += segment.tokens
    return ms / 1000


def project(shape: TraceShape, costs: CostModel) -> Projection:
    return Projection(
        name=shape.name,
        target=costs.name,
        tokens=shape.tokens,
        large_tokens=shape.tokens_by("large"),
        switches=shape.switches,
        relay_s=relay_seconds(shape, costs, "warm"),
        relay_cold_s=relay_seconds(shape, costs, "cold"),
        large_only_s=large_only_seconds(shape, costs),
        ideal_s=ideal_seconds(shape, costs),
        measured_wall_s=shape.wall_s,
        as_run_s=relay_seconds(shape, costs, "as_run") if costs.provenance.source == "measured" else None,
    )


def total(projections: Sequence[Projection], target: str) -> Projection:
    """Several traces as one workload: times and tokens add up (speedups are of the sums)."""

    def add(values: Sequence[float | None]) -> float | None:
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    return Projection(
        name="total",
        target=target,
        tokens=sum(p.tokens for p in projections),
        large_tokens=sum(p.large_tokens for p in projections),
        switches=sum(p.switches for p in projections),
        relay_s=sum(p.relay_s for p in projections),
        relay_cold_s=sum(p.relay_cold_s for p in projections),
        large_only_s=sum(p.large_only_s for p in projections),
        ideal_s=sum(p.ideal_s for p in projections),
        measured_wall_s=add([p.measured_wall_s for p in projections]),
        as_run_s=add([p.as_run_s for p in projections]),
    )
