"""The paper's table from the per-sample records: accuracy, latency, tokens, switches, speedup.

Everything here is recomputed from `samples.jsonl`, so a report can be rebuilt at any time and
checked against the records. Failed samples are counted as failures and left out of pass@1 (never
scored as wrong). Speedup against large-only is paired: the same problem and sample (same seed) in
both modes, total large-only time over total time of the mode across the pairs both finished.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from statistics import fmean, median
from typing import Any

from pydantic import BaseModel

from relaychat.evaluation.records import SampleKey, SampleRecord
from relaychat.evaluation.stats import cluster_bootstrap, wilson


class ModeReport(BaseModel):
    mode: str
    planned: int  # samples asked for
    scored: int  # samples finished and graded
    failed: int  # samples whose last attempt failed (not scored)
    correct: int
    problems: int  # problems with at least one scored sample
    pass_at_1: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    latency_mean_s: float | None
    latency_median_s: float | None
    ttft_mean_s: float | None
    ttft_median_s: float | None
    tpot_mean_ms: float | None
    tpot_median_ms: float | None
    tokens_mean: float | None
    large_tokens_mean: float | None
    small_tokens_mean: float | None
    large_share: float | None  # large tokens over all tokens, summed over samples
    switches_mean: float | None
    boxed_in_answer: float | None  # share of samples with a \boxed{} answer after the reasoning
    budget_exhausted: float | None  # share whose reasoning ran out of budget
    speedup_vs_large: float | None
    speedup_median: float | None
    speedup_pairs: int
    # the same samples' traces through a target pair's cost model (`eval --project-on`)
    projected_speedup: float | None = None
    projected_bound: float | None = None
    projected_on: str | None = None


class EvalReport(BaseModel):
    meta: dict[str, Any]
    modes: list[ModeReport]
    created: str

    def mode(self, name: str) -> ModeReport:
        return next(m for m in self.modes if m.mode == name)


def _mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


def _median(values: list[float]) -> float | None:
    return median(values) if values else None


def build_report(
    records: Mapping[SampleKey, SampleRecord], keys: Iterable[SampleKey], meta: dict[str, Any] | None = None
) -> EvalReport:
    """Aggregate the records of the planned samples (`keys`), mode by mode, in plan order."""
    planned: dict[str, list[SampleKey]] = defaultdict(list)
    for key in keys:
        planned[key[1]].append(key)
    wall = {k: r.summary.wall_s for k, r in records.items() if r.status == "ok" and r.summary is not None}
    modes = [
        _mode_report(mode, [records[k] for k in ks if k in records], len(ks), wall)
        for mode, ks in planned.items()
    ]
    return EvalReport(meta=meta or {}, modes=modes, created=datetime.now(UTC).isoformat(timespec="seconds"))


def _mode_report(
    mode: str, records: list[SampleRecord], planned: int, wall: dict[SampleKey, float]
) -> ModeReport:
    ok = [r for r in records if r.status == "ok" and r.summary is not None]
    failed = sum(1 for r in records if r.status == "failed")
    by_problem: dict[str, list[float]] = defaultdict(list)
    for r in ok:
        by_problem[r.problem_id].append(1.0 if r.correct else 0.0)
    correct = sum(1 for r in ok if r.correct)
    pass_at_1 = _mean([fmean(v) for v in by_problem.values()])
    if all(len(v) == 1 for v in by_problem.values()):
        low, high = wilson(correct, len(ok)) if ok else (None, None)
        method = "wilson"
    else:
        low, high = cluster_bootstrap(list(by_problem.values()))
        method = "bootstrap over problems"
    summaries = [r.summary for r in ok if r.summary is not None]
    total = sum(s.total_tokens for s in summaries)
    ttfts = [s.ttft_s for s in summaries if s.ttft_s is not None]
    tpots = [r.tpot_s * 1000 for r in ok if r.tpot_s is not None]
    pairs = [
        (wall[(r.problem_id, "large", r.sample)], wall[r.key])
        for r in ok
        if (r.problem_id, "large", r.sample) in wall and wall[r.key] > 0
    ]
    speedup = sum(a for a, _ in pairs) / sum(b for _, b in pairs) if pairs else None
    return ModeReport(
        mode=mode,
        planned=planned,
        scored=len(ok),
        failed=failed,
        correct=correct,
        problems=len(by_problem),
        pass_at_1=pass_at_1,
        ci_low=low,
        ci_high=high,
        ci_method=method,
        latency_mean_s=_mean([s.wall_s for s in summaries]),
        latency_median_s=_median([s.wall_s for s in summaries]),
        ttft_mean_s=_mean(ttfts),
        ttft_median_s=_median(ttfts),
        tpot_mean_ms=_mean(tpots),
        tpot_median_ms=_median(tpots),
        tokens_mean=_mean([float(s.total_tokens) for s in summaries]),
        large_tokens_mean=_mean([float(s.large.tokens) for s in summaries]),
        small_tokens_mean=_mean([float(s.small.tokens) for s in summaries]),
        large_share=sum(s.large.tokens for s in summaries) / total if total else None,
        switches_mean=_mean([float(s.switches) for s in summaries]),
        boxed_in_answer=_mean([1.0 if r.grade_source == "answer" else 0.0 for r in ok]),
        budget_exhausted=_mean([1.0 if s.reasoning_ended_by == "budget" else 0.0 for s in summaries]),
        speedup_vs_large=speedup,
        speedup_median=_median([a / b for a, b in pairs]),
        speedup_pairs=len(pairs),
    )
