"""The report's numbers, recomputed by hand from known records."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaychat.core.events import ModelStats, RunSummary
from relaychat.evaluation.plot import plot_accuracy_latency
from relaychat.evaluation.records import SampleKey, SampleRecord
from relaychat.evaluation.render import markdown, rich_table
from relaychat.evaluation.report import build_report
from relaychat.evaluation.stats import cluster_bootstrap, percentile, wilson


def record(
    problem: str,
    mode: str,
    sample: int,
    correct: bool,
    wall: float,
    large: int,
    small: int,
    switches: int = 0,
    ttft: float = 0.5,
) -> SampleRecord:
    summary = RunSummary(
        mode=mode,
        profile="p",
        wall_s=wall,
        ttft_s=ttft,
        switches=switches,  # type: ignore[arg-type]
        large=ModelStats(tokens=large),
        small=ModelStats(tokens=small),
    )
    return SampleRecord(
        problem_id=problem,
        mode=mode,
        sample=sample,
        seed=1,
        status="ok",  # type: ignore[arg-type]
        correct=correct,
        grade_source="answer",
        summary=summary,
    )


def as_map(records: list[SampleRecord]) -> dict[SampleKey, SampleRecord]:
    return {r.key: r for r in records}


def test_speedup_is_paired_per_problem_and_sample() -> None:
    records = [
        record("a", "large", 0, True, wall=10.0, large=100, small=0),
        record("b", "large", 0, True, wall=30.0, large=300, small=0),
        record("a", "relay", 0, True, wall=5.0, large=60, small=40, switches=4),
        record("b", "relay", 0, False, wall=20.0, large=180, small=120, switches=6),
        record("c", "relay", 0, True, wall=1.0, large=1, small=1),  # no large-only partner: not paired
    ]
    keys = [(p, m, 0) for p in "abc" for m in ("large", "relay")]
    report = build_report(as_map(records), keys)
    relay = report.mode("relay")
    assert relay.speedup_pairs == 2
    assert relay.speedup_vs_large == pytest.approx(40.0 / 25.0)
    assert relay.speedup_median == pytest.approx((2.0 + 1.5) / 2)
    assert relay.large_share == pytest.approx(241 / 402)
    assert relay.switches_mean == pytest.approx(10 / 3)
    assert relay.pass_at_1 == pytest.approx(2 / 3) and relay.correct == 2 and relay.scored == 3
    assert (relay.ci_low, relay.ci_high) == pytest.approx(wilson(2, 3))
    assert relay.tpot_mean_ms == pytest.approx(1000 * ((4.5 / 99) + (19.5 / 299) + (0.5 / 1)) / 3)
    large = report.mode("large")
    assert large.speedup_vs_large == pytest.approx(1.0) and large.planned == 3 and large.scored == 2


def test_pass_at_1_averages_problems_and_uses_a_problem_bootstrap_with_several_samples() -> None:
    records = [
        record("a", "small", 0, True, 1, 0, 10),
        record("a", "small", 1, True, 1, 0, 10),
        record("a", "small", 2, False, 1, 0, 10),
        record("b", "small", 0, False, 1, 0, 10),
    ]
    keys = [("a", "small", k) for k in range(3)] + [("b", "small", k) for k in range(3)]
    small = build_report(as_map(records), keys).mode("small")
    assert small.pass_at_1 == pytest.approx((2 / 3 + 0) / 2)
    assert small.ci_method == "bootstrap over problems"
    assert small.ci_low is not None and small.ci_high is not None
    assert 0.0 <= small.ci_low <= small.pass_at_1 <= small.ci_high <= 2 / 3 + 1e-9
    assert small.planned == 6 and small.scored == 4


def test_intervals_and_percentiles() -> None:
    low, high = wilson(0, 5)
    assert low == 0.0 and 0.4 < high < 0.45
    assert wilson(5, 5)[1] == 1.0
    assert cluster_bootstrap([[1.0], [1.0]]) == (1.0, 1.0)
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([5], 99) == 5 and percentile([], 50) is None


def test_table_markdown_and_plot_show_every_mode(tmp_path: Path) -> None:
    records = [
        record("a", "large", 0, True, 10, 100, 0),
        record("a", "relay", 0, False, 6, 60, 40, switches=3),
    ]
    report = build_report(as_map(records), [("a", "large", 0), ("a", "relay", 0)], {"dataset": "toy"})
    text = markdown(report)
    assert "| large | 100.0 |" in text and "| relay | 0.0 |" in text and "1.67x" in text
    assert rich_table(report).row_count == 2
    png = plot_accuracy_latency(report, tmp_path / "plot.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
