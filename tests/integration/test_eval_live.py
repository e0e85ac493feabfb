"""`relaychat eval` end to end on the CPU pair: 3 AMC problems x 3 modes, report checked against records."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean, median

import pytest

from relaychat.cli.main import main
from relaychat.core.events import RunFinished, Switch, TokenDelta
from relaychat.core.profile import PairProfile
from relaychat.core.trace import load_trace
from relaychat.evaluation.datasets import load_dataset
from relaychat.evaluation.grading import grade
from relaychat.evaluation.records import ResultStore

MODES = ("large", "small", "relay")


def run_cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return int(exit_info.value.code or 0)


def test_eval_on_three_amc_problems_matches_its_records(
    demo_profile: PairProfile, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "amc-run"
    argv = [
        "eval",
        "--profile",
        "cpu-demo",
        "--dataset",
        "amc23",
        "--data",
        str(data_dir),
        "--limit",
        "3",
        "--samples",
        "1",
        "--modes",
        ",".join(MODES),
        "--max-tokens",
        "120",
        "--concurrency",
        "2",
        "--out",
        str(out),
        "--no-autostart",
    ]
    assert run_cli(*argv) == 0
    store = ResultStore(out)
    records = store.load()
    problems = {p.id: p for p in load_dataset("amc23", data_dir, limit=3)}
    assert {(p, m, 0) for p in problems for m in MODES} == set(records)

    # Every record agrees with its own trace and with a fresh grading of its answer.
    for record in records.values():
        assert record.status == "ok" and record.summary is not None
        events = load_trace(out / str(record.trace))
        final = events[-1]
        assert isinstance(final, RunFinished) and final.summary == record.summary
        tokens = sum(len(e.token_ids) for e in events if isinstance(e, TokenDelta))
        assert tokens == record.summary.total_tokens <= 120
        assert sum(isinstance(e, Switch) for e in events) == record.summary.switches
        again = grade(problems[record.problem_id], record.summary.answer, record.summary.reasoning)
        assert (again.correct, again.extracted) == (record.correct, record.extracted)
        if record.mode == "large":
            assert record.summary.small.tokens == 0
        if record.mode == "small":
            assert record.summary.large.tokens == 0 and record.summary.switches == 0

    # The report's numbers, recomputed from the records.
    report = json.loads((out / "report.json").read_text())
    by_mode = {m["mode"]: m for m in report["modes"]}
    assert list(by_mode) == list(MODES)
    large_wall = {r.problem_id: r.summary.wall_s for r in records.values() if r.mode == "large"}  # type: ignore[union-attr]
    for mode in MODES:
        mine = [r for r in records.values() if r.mode == mode]
        sums = [r.summary for r in mine]
        row = by_mode[mode]
        assert (row["planned"], row["scored"], row["failed"]) == (3, 3, 0)
        assert row["pass_at_1"] == pytest.approx(fmean(1.0 if r.correct else 0.0 for r in mine))
        assert row["ci_low"] <= row["pass_at_1"] <= row["ci_high"]
        assert row["latency_mean_s"] == pytest.approx(fmean(s.wall_s for s in sums))  # type: ignore[union-attr]
        assert row["latency_median_s"] == pytest.approx(median(s.wall_s for s in sums))  # type: ignore[union-attr]
        assert row["tokens_mean"] == pytest.approx(fmean(s.total_tokens for s in sums))  # type: ignore[union-attr]
        total = sum(s.total_tokens for s in sums)  # type: ignore[union-attr]
        assert row["large_share"] == pytest.approx(sum(s.large.tokens for s in sums) / total)  # type: ignore[union-attr]
        assert row["switches_mean"] == pytest.approx(fmean(s.switches for s in sums))  # type: ignore[union-attr]
        speedup = sum(large_wall[r.problem_id] for r in mine) / sum(r.summary.wall_s for r in mine)  # type: ignore[union-attr]
        assert row["speedup_vs_large"] == pytest.approx(speedup) and row["speedup_pairs"] == 3
    assert by_mode["large"]["large_share"] == 1.0 and by_mode["small"]["large_share"] == 0.0
    assert by_mode["relay"]["switches_mean"] > 0  # the relay really relayed
    assert (out / "report.md").read_text().count("\n| ") == 4
    assert (out / "accuracy_latency.png").stat().st_size > 1000

    # Resuming a finished run runs nothing and keeps every line.
    lines = store.samples_path.read_text()
    assert run_cli(*argv) == 0
    assert store.samples_path.read_text() == lines
