"""The eval report's projected-speedup column and plot: each sample's trace through a target's costs."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from relaychat.core.events import RelayEvent
from relaychat.core.trace import TraceWriter
from relaychat.evaluation.plot import plot_projected
from relaychat.evaluation.projected import project_modes, with_projection
from relaychat.evaluation.records import SampleRecord
from relaychat.evaluation.render import markdown, rich_table
from relaychat.evaluation.report import EvalReport, build_report
from relaychat.projection.costmodel import load_cost_model
from relaychat.projection.project import project
from relaychat.projection.shape import shape_of
from tests.unit.projection.test_projection import synthetic_events

TURNS = {
    "large": [("large", 200)],
    "relay": [("large", 35), ("small", 15)] * 4,
}


def _sample(folder: Path, problem: str, mode: str, correct: bool) -> SampleRecord:
    events: list[RelayEvent] = synthetic_events(TURNS[mode])
    name = f"traces/{problem}__{mode}__s0.jsonl"
    (folder / "traces").mkdir(parents=True, exist_ok=True)
    with TraceWriter(folder / name) as writer:
        for event in events:
            writer.write(event)
    summary = events[-1].summary  # type: ignore[union-attr]
    summary = summary.model_copy(update={"mode": mode, "ttft_s": 0.01})
    return SampleRecord(
        problem_id=problem,
        mode=mode,
        sample=0,
        seed=1,
        status="ok",
        correct=correct,
        grade_source="answer",
        trace=name,
        summary=summary,
    )


def _report(folder: Path) -> EvalReport:
    records = [
        _sample(folder, "a", "large", True),
        _sample(folder, "a", "relay", True),
        _sample(folder, "b", "large", True),
        _sample(folder, "b", "relay", False),
    ]
    costs = load_cost_model("h200-qwen3")
    by_key = {r.key: r for r in records}
    report = build_report(
        by_key, list(by_key), {"dataset": "toy", "profile": "p", "projected_on": costs.name}
    )
    fields = with_projection(project_modes(records, folder, costs), costs.name)
    report.modes = [m.model_copy(update=fields.get(m.mode, {})) for m in report.modes]
    return report


def test_projected_speedup_per_mode_is_the_sum_of_its_samples(tmp_path: Path) -> None:
    report = _report(tmp_path)
    costs = load_cost_model("h200-qwen3")
    one = project(shape_of(synthetic_events(TURNS["relay"])), costs)
    assert report.mode("relay").projected_speedup == pytest.approx(one.projected_speedup)
    assert report.mode("relay").projected_bound == pytest.approx(one.bound_speedup)
    assert report.mode("large").projected_speedup == pytest.approx(1.0)
    assert "projected on h200-qwen3" in markdown(report) and "| projected |" in markdown(report)


def test_eval_table_with_the_projected_column(tmp_path: Path, snapshot) -> None:
    report = _report(tmp_path)
    report.created = "2026-12-04T00:00:00+00:00"
    console = Console(width=160, record=True, color_system=None, force_terminal=False)
    console.print(rich_table(report))
    assert console.export_text() == snapshot


def test_projected_plot_is_written(tmp_path: Path) -> None:
    png = plot_projected(_report(tmp_path), tmp_path / "projected.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_samples_without_a_usable_trace_are_left_out(tmp_path: Path) -> None:
    record = _sample(tmp_path, "a", "relay", True)
    (tmp_path / str(record.trace)).write_text("not a trace\n")
    assert project_modes([record], tmp_path, load_cost_model("h200-qwen3")) == {}
