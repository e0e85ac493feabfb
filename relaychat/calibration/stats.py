"""Per-cue post-cue margin statistics with an honest standard error.

Tokens inside one post-cue segment are strongly autocorrelated, so treating them as independent
draws (the reference's pooled-token standard error) makes the bar far too easy to pass. Here each
occurrence is one observation (the mean margin over its tokens) and the standard error is taken over
occurrences (`segment`), or over traces by a cluster bootstrap (`bootstrap`), since occurrences in
one trace are not independent either. `token` reproduces the reference's weak bar for comparison.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean, stdev
from typing import Literal

from relaychat.calibration.segments import post_cue_segments

SEMethod = Literal["segment", "bootstrap", "token"]
SE_METHODS: tuple[SEMethod, ...] = ("segment", "bootstrap", "token")


@dataclass(frozen=True)
class TraceMargins:
    """What statistics need of one scored trace."""

    key: str
    text: str
    starts: list[int]
    margins: list[float | None]


@dataclass
class GlobalStats:
    mean: float | None
    tokens: int
    traces: int


@dataclass
class CueStats:
    cue: str
    occurrences: int = 0  # post-cue segments with at least one scored token
    traces: int = 0  # traces in which the cue occurs
    tokens: int = 0  # scored post-cue tokens
    token_mean: float | None = None  # the paper's score: mean over all post-cue tokens
    segment_mean: float | None = None  # mean over occurrences of each occurrence's mean
    se_segment: float | None = None
    se_token: float | None = None
    se_bootstrap: float | None = None
    mean: float | None = None  # the mean the rule uses (depends on the SE method)
    se: float | None = None  # the standard error the rule uses
    bar: float | None = None  # what `mean` had to reach
    selected: bool = False
    reason: str = ""
    per_trace: dict[str, list[float]] = field(default_factory=dict, repr=False)  # segment means by trace

    def as_dict(self) -> dict[str, object]:
        keys = (
            "occurrences",
            "traces",
            "tokens",
            "token_mean",
            "segment_mean",
            "se_segment",
            "se_token",
            "se_bootstrap",
            "mean",
            "se",
            "bar",
            "selected",
            "reason",
        )
        return {k: _round(getattr(self, k)) for k in keys}


def _round(value: object) -> object:
    return round(value, 6) if isinstance(value, float) else value


def _se(values: Sequence[float]) -> float | None:
    return stdev(values) / math.sqrt(len(values)) if len(values) >= 2 else None


def global_stats(traces: Sequence[TraceMargins]) -> GlobalStats:
    values = [m for t in traces for m in t.margins if m is not None]
    return GlobalStats(mean=fmean(values) if values else None, tokens=len(values), traces=len(traces))


def cue_stats(traces: Sequence[TraceMargins], cues: Iterable[str]) -> dict[str, CueStats]:
    """Occurrences, token counts, means and standard errors of every cue (zero-occurrence cues too)."""
    cue_list = list(dict.fromkeys(cues))
    result = {cue: CueStats(cue) for cue in cue_list}
    tokens_by_cue: dict[str, list[float]] = {cue: [] for cue in cue_list}
    for trace in traces:
        for segment in post_cue_segments(trace.text, trace.starts, cue_list):
            values = [m for m in trace.margins[segment.first_token : segment.last_token] if m is not None]
            if not values:
                continue
            tokens_by_cue[segment.cue].extend(values)
            result[segment.cue].per_trace.setdefault(trace.key, []).append(fmean(values))
    for cue, stats in result.items():
        segment_means = [m for means in stats.per_trace.values() for m in means]
        pooled = tokens_by_cue[cue]
        stats.occurrences = len(segment_means)
        stats.traces = len(stats.per_trace)
        stats.tokens = len(pooled)
        stats.token_mean = fmean(pooled) if pooled else None
        stats.segment_mean = fmean(segment_means) if segment_means else None
        stats.se_segment = _se(segment_means)
        stats.se_token = _se(pooled)
    return result


def add_bootstrap(
    stats: dict[str, CueStats], trace_keys: Sequence[str], rounds: int = 1000, seed: int = 0
) -> None:
    """Cluster bootstrap over traces: resample whole traces, recompute each cue's mean of segment means.

    The same resamples serve every cue; a cue needs occurrences in at least two traces.
    """
    rng = random.Random(seed)
    n = len(trace_keys)
    if n < 2:
        return
    index = {key: i for i, key in enumerate(trace_keys)}
    draws = [Counter(rng.choices(range(n), k=n)) for _ in range(rounds)]
    for cue_stats_ in stats.values():
        if cue_stats_.traces < 2:
            continue
        sums = {index[k]: (sum(v), len(v)) for k, v in cue_stats_.per_trace.items() if k in index}
        replicates = []
        for draw in draws:
            total = count = 0.0
            for i, (s, c) in sums.items():
                times = draw.get(i, 0)
                total += times * s
                count += times * c
            if count:
                replicates.append(total / count)
        if len(replicates) >= 2:
            cue_stats_.se_bootstrap = stdev(replicates)


def choose(stats: dict[str, CueStats], method: SEMethod) -> None:
    """Set each cue's `mean` and `se` to the pair the selection rule compares."""
    for s in stats.values():
        if method == "token":
            s.mean, s.se = s.token_mean, s.se_token
        else:
            s.mean = s.segment_mean
            s.se = s.se_bootstrap if method == "bootstrap" else s.se_segment
