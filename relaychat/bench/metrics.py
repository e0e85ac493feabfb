"""The one metrics record every scenario produces, built from event streams and server counters.

Client side (from the events): end-to-end latency, TTFT, TPOT, throughput, and the switch gap
(last token of one model -> first token of the other), split into the next model's TTFT (request
sent -> first token: the server's share) and the rest (the client's share: noticing the cut,
closing the stream, building the next request). Server side (vLLM /metrics deltas): prompt tokens,
prefix-cache hits and queries, generated tokens. Client CPU comes from `time.process_time()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from relaychat.core.events import (
    RelayEvent,
    RunFailed,
    RunFinished,
    RunSummary,
    SegmentEnded,
    SegmentStarted,
)
from relaychat.evaluation.stats import describe

SWITCH_TRIGGERS = ("cue", "sentence_end", "small_limit")  # segment triggers that are relay switches

COUNTERS = {
    "prompt_tokens": "vllm:prompt_tokens_total",
    "generation_tokens": "vllm:generation_tokens_total",
    "cache_queries": "vllm:prefix_cache_queries_total",
    "cache_hits": "vllm:prefix_cache_hits_total",
    "itl_sum": "vllm:inter_token_latency_seconds_sum",
    "itl_count": "vllm:inter_token_latency_seconds_count",
}


@dataclass
class RunObservation:
    """What one generation showed on the client side."""

    summary: RunSummary | None = None
    error: str | None = None
    handoff_gaps_s: list[float] = field(default_factory=list)  # model changed between segments
    handoff_ttfts_s: list[float] = field(default_factory=list)  # the next model's TTFT at those handoffs
    handoff_early: list[bool] = field(default_factory=list)  # the next request went out before the cut
    handoff_to: list[str] = field(default_factory=list)  # the receiving model at those handoffs
    handoff_switch: list[bool] = field(
        default_factory=list
    )  # a relay switch (cue, sentence end), not the answer
    segments: int = 0

    @classmethod
    def of(cls, events: Iterable[RelayEvent]) -> RunObservation:
        seen = cls()
        previous_model: str | None = None
        current_model: str | None = None
        trigger = "start"
        for event in events:
            if isinstance(event, SegmentStarted):
                previous_model, current_model, trigger = current_model, event.model, event.trigger
                seen.segments += 1
            elif isinstance(event, SegmentEnded):
                changed = previous_model is not None and previous_model != current_model
                if changed and event.gap_s is not None and event.ttft_s is not None:
                    seen.handoff_gaps_s.append(event.gap_s)
                    seen.handoff_ttfts_s.append(event.ttft_s)
                    seen.handoff_early.append(event.early_start)
                    seen.handoff_to.append(event.model)
                    seen.handoff_switch.append(trigger in SWITCH_TRIGGERS)
            elif isinstance(event, RunFinished):
                seen.summary = event.summary
            elif isinstance(event, RunFailed):
                seen.summary, seen.error = event.summary, f"{event.error.kind}: {event.error.message}"
        return seen


class Distribution(BaseModel):
    mean: float | None = None
    median: float | None = None
    p99: float | None = None
    n: int = 0

    @classmethod
    def of(cls, values: Iterable[float], scale: float = 1.0) -> Distribution:
        stats = describe([v * scale for v in values])
        return cls(mean=stats["mean"], median=stats["median"], p99=stats["p99"], n=int(stats["n"] or 0))


class ServerDelta(BaseModel):
    """Counter increases on one role's server(s) during a scenario (any other traffic included)."""

    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    cache_queries: float = 0.0
    cache_hits: float = 0.0
    itl_sum: float = 0.0
    itl_count: float = 0.0

    @property
    def step_s(self) -> float | None:
        """The server's own mean time per decoded token during the scenario (from its ITL histogram)."""
        return self.itl_sum / self.itl_count if self.itl_count else None

    @property
    def hit_rate(self) -> float | None:
        return self.cache_hits / self.cache_queries if self.cache_queries else None

    @property
    def computed_prompt_tokens(self) -> float:
        """Prompt tokens the server had to prefill (not found in its prefix cache)."""
        return max(self.cache_queries - self.cache_hits, 0.0)

    @classmethod
    def between(cls, before: Mapping[str, float], after: Mapping[str, float]) -> ServerDelta:
        return cls(**{k: after.get(name, 0.0) - before.get(name, 0.0) for k, name in COUNTERS.items()})


class ScenarioMetrics(BaseModel):
    scenario: str
    mode: str
    concurrency: int
    variants: list[str] = Field(default_factory=list)
    runs: int
    failed: int
    errors: list[str] = Field(default_factory=list)
    duration_s: float
    output_tokens: int
    received_tokens: int  # output plus tokens streamed past a cut and dropped
    output_throughput_tok_s: float | None
    run_throughput_per_s: float | None
    latency_ms: Distribution
    ttft_ms: Distribution
    tpot_ms: Distribution
    switches: int
    switch_gap_ms: Distribution
    switch_gap_into_ms: dict[str, Distribution] = Field(
        default_factory=dict,
        description="gap at relay switches (not the handoff to the answer) by receiving model, to compare "
        "with that server's cached TTFT",
    )
    switch_next_ttft_ms: Distribution
    switch_client_ms: Distribution  # gap minus the next model's TTFT (handoffs not started early)
    segments: int
    role_segments: dict[str, int] = Field(default_factory=dict)
    client_cpu_s: float
    client_cpu_ms_per_token: float | None
    large_share: float | None
    servers: dict[str, ServerDelta] = Field(default_factory=dict)
    overhead_ms_per_switch: float | None = Field(
        None, description="(wall - first TTFT - tokens x the servers' own time per token) / switches"
    )
    residual_ms_per_run: float | None = Field(
        None, description="the same excess per run; near 0 for a single model validates the method"
    )
    own_speed_share: float | None = Field(
        None,
        description="(first TTFT + tokens x the servers' own time per token) / wall: the share of the "
        "runs' time spent at the servers' own speed, whatever speed each core ran at meanwhile",
    )
    prefill_feeds: int = 0
    cold_cache: bool = Field(False, description="the servers' prefix caches were emptied before the scenario")
    cue_detection: str | None = None
    discarded_after_cues: int = 0
    early_starts: int = Field(0, description="handoffs whose request went out before the cut was confirmed")
    early_cancelled: int = Field(0, description="early starts cancelled: the expected cut did not come")
    early_wasted_tokens: int = Field(0, description="tokens streamed by cancelled early starts")


def aggregate(
    scenario_name: str,
    mode: str,
    concurrency: int,
    variants: list[str],
    observations: list[RunObservation],
    duration_s: float,
    cpu_s: float,
    servers: Mapping[str, ServerDelta],
) -> ScenarioMetrics:
    ok = [o for o in observations if o.error is None and o.summary is not None]
    summaries = [o.summary for o in ok if o.summary is not None]
    output = sum(s.total_tokens for s in summaries)
    received = output + sum(s.large.discarded_tokens + s.small.discarded_tokens for s in summaries)
    tpots = [
        (s.wall_s - s.ttft_s) / (s.total_tokens - 1)
        for s in summaries
        if s.ttft_s is not None and s.total_tokens > 1
    ]
    gaps = [g for o in ok for g in o.handoff_gaps_s]
    next_ttfts = [t for o in ok for t in o.handoff_ttfts_s]
    # An early start's TTFT began before the previous cut, so gap - TTFT says nothing about the client.
    client = [
        g - t
        for o in ok
        for g, t, early in zip(o.handoff_gaps_s, o.handoff_ttfts_s, o.handoff_early, strict=False)
        if not early
    ]
    large = sum(s.large.tokens for s in summaries)
    return ScenarioMetrics(
        scenario=scenario_name,
        mode=mode,
        concurrency=concurrency,
        variants=variants,
        runs=len(ok),
        failed=len(observations) - len(ok),
        errors=[o.error for o in observations if o.error][:5],
        duration_s=duration_s,
        output_tokens=output,
        received_tokens=received,
        output_throughput_tok_s=output / duration_s if duration_s > 0 else None,
        run_throughput_per_s=len(ok) / duration_s if duration_s > 0 else None,
        latency_ms=Distribution.of((s.wall_s for s in summaries), 1000),
        ttft_ms=Distribution.of((s.ttft_s for s in summaries if s.ttft_s is not None), 1000),
        tpot_ms=Distribution.of(tpots, 1000),
        switches=sum(s.switches for s in summaries),
        switch_gap_ms=Distribution.of(gaps, 1000),
        switch_gap_into_ms={
            role: Distribution.of(
                (
                    g
                    for o in ok
                    for g, to, switch in zip(o.handoff_gaps_s, o.handoff_to, o.handoff_switch, strict=False)
                    if to == role and switch
                ),
                1000,
            )
            for role in ("large", "small")
            if any(
                to == role and switch
                for o in ok
                for to, switch in zip(o.handoff_to, o.handoff_switch, strict=False)
            )
        },
        switch_next_ttft_ms=Distribution.of(next_ttfts, 1000),
        switch_client_ms=Distribution.of(client, 1000),
        segments=sum(o.segments for o in ok),
        role_segments={r: sum(s.stats(r).segments for s in summaries) for r in ("large", "small")},
        client_cpu_s=cpu_s,
        client_cpu_ms_per_token=cpu_s * 1000 / received if received else None,
        large_share=large / output if output else None,
        servers=servers,
        prefill_feeds=sum(s.prefill_feeds for s in summaries),
        cue_detection=summaries[0].cue_detection if summaries else None,
        discarded_after_cues=sum(s.discarded_after_cues for s in summaries),
        early_starts=sum(s.early_starts for s in summaries),
        early_cancelled=sum(s.early_cancelled for s in summaries),
        early_wasted_tokens=sum(s.early_wasted_tokens for s in summaries),
        **_overhead(summaries, servers),
    )


def _overhead(summaries: list[RunSummary], servers: Mapping[str, ServerDelta]) -> dict[str, float | None]:
    """Drift-robust switch overhead: what the run took beyond the servers' own decoding.

    Each role's time per token comes from its server's ITL histogram over this very scenario, so a slow
    or fast stretch of the shared VM moves the ideal time with it. Everything the relay adds (look-ahead
    tokens, the next server's prefill, HTTP and client time) is left over; divided by switches.
    """
    excess = wall = 0.0
    for s in summaries:
        ideal = s.ttft_s or 0.0
        for role in ("large", "small"):
            stats = s.stats(role)
            step = servers[role].step_s if role in servers else None
            if stats.tokens and step is None:
                return {"overhead_ms_per_switch": None, "residual_ms_per_run": None, "own_speed_share": None}
            ideal += max(stats.tokens - (1 if role == _first_role(s) else 0), 0) * (step or 0.0)
        excess += s.wall_s - ideal
        wall += s.wall_s
    switches = sum(s.switches for s in summaries)
    return {
        "own_speed_share": (wall - excess) / wall if wall > 0 else None,
        "overhead_ms_per_switch": excess * 1000 / switches if switches else None,
        "residual_ms_per_run": excess * 1000 / len(summaries) if summaries else None,
    }


def _first_role(summary: RunSummary) -> str:
    return "small" if summary.mode == "small" else "large"
