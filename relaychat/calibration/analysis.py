"""From scored traces to a decision: global mean, per-cue statistics, the rule applied."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from relaychat.calibration.scoring import ScoredTrace
from relaychat.calibration.selection import SelectionRule, apply_rule
from relaychat.calibration.stats import (
    CueStats,
    GlobalStats,
    SEMethod,
    TraceMargins,
    add_bootstrap,
    choose,
    cue_stats,
    global_stats,
)
from relaychat.calibration.traces import TraceRecord


@dataclass
class Analysis:
    overall: GlobalStats
    stats: dict[str, CueStats]
    selected: list[str]
    rule: SelectionRule
    se_method: SEMethod
    bootstrap_rounds: int


def trace_margins(traces: Mapping[str, TraceRecord], scores: Mapping[str, ScoredTrace]) -> list[TraceMargins]:
    return [
        TraceMargins(key, traces[key].reasoning, scores[key].starts, scores[key].margins)
        for key in sorted(scores)
        if key in traces
    ]


def analyse(
    margins: list[TraceMargins],
    candidates: Iterable[str],
    rule: SelectionRule,
    se_method: SEMethod = "segment",
    *,
    seed: int = 0,
    bootstrap_rounds: int = 1000,
) -> Analysis:
    overall = global_stats(margins)
    stats = cue_stats(margins, candidates)
    if se_method == "bootstrap":
        add_bootstrap(stats, [m.key for m in margins], rounds=bootstrap_rounds, seed=seed)
    choose(stats, se_method)
    selected = apply_rule(rule, stats, overall)
    return Analysis(
        overall, stats, selected, rule, se_method, bootstrap_rounds if se_method == "bootstrap" else 0
    )
