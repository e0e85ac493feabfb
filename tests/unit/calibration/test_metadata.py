"""Calibration identity (what saved work depends on) and the cue set's metadata (what the run did)."""

from __future__ import annotations

from pathlib import Path

from relaychat.calibration.metadata import cue_set_metadata, run_identity
from relaychat.calibration.pipeline import PipelineResult
from relaychat.calibration.scoring import ScoredTrace
from relaychat.calibration.traces import TraceRecord
from relaychat.core.profile import load_profile


def trace(key: str, ended_by: str, wall_s: float) -> TraceRecord:
    return TraceRecord(
        key=key,
        problem_id="p",
        sample=0,
        seed=1,
        question="Q",
        reasoning="R",
        tokens=3,
        ended_by=ended_by,
        model="big",
        wall_s=wall_s,
    )


def scored(key: str, truncated: int, wall_s: float) -> ScoredTrace:
    return ScoredTrace(
        key=key,
        model="tiny",
        k=20,
        prefix_tokens=5,
        starts=[],
        ends=[],
        margins=[],
        truncated_tokens=truncated,
        wall_s=wall_s,
    )


def test_the_identity_changes_with_the_data_and_the_settings_only(tmp_path: Path) -> None:
    data = tmp_path / "amc.jsonl"
    data.write_text('{"q": 1}\n')
    profile = load_profile("cpu-demo")
    first = run_identity(profile, data, 200, 0, 20)
    assert first == run_identity(profile, data, 200, 0, 20)
    assert first["dataset"] == "amc" and first["profile"] == "cpu-demo"
    assert first != run_identity(profile, data, 200, 1, 20) and first != run_identity(
        profile, data, 100, 0, 20
    )
    data.write_text('{"q": 2}\n')
    assert run_identity(profile, data, 200, 0, 20)["dataset_sha256"] != first["dataset_sha256"]


def test_metadata_counts_how_traces_ended_and_sums_their_time(tmp_path: Path) -> None:
    data = tmp_path / "amc.jsonl"
    data.write_text("{}\n")
    traces = {k: trace(k, e, 1.5) for k, e in [("a", "marker"), ("b", "budget"), ("c", "marker")]}
    scores = {"a": scored("a", 0, 0.25), "b": scored("b", 7, 0.25)}
    result = PipelineResult(traces=traces, scores=scores, failures=[], wall_s=3.14159, resumed=1)
    profile = load_profile("cpu-demo")
    meta = cue_set_metadata(
        profile, data, 3, 1, seed=4, k=20, max_tokens=200, candidates=["So "], result=result
    )
    assert meta["pair"] == {"profile": "cpu-demo", "large": "big", "small": "tiny"}
    assert meta["traces"] == {"ended_by": {"marker": 2, "budget": 1}, "truncated_for_scoring": 1}
    assert meta["timing"] == {"wall_s": 3.14, "trace_s": 4.5, "score_s": 0.5, "resumed_items": 1}
    assert meta["dataset"]["problems"] == 3 and meta["dataset"]["name"] == "amc"
    assert (meta["seed"], meta["k"], meta["max_tokens"], meta["candidates"]) == (4, 20, 200, ["So "])


def test_metadata_of_a_run_with_nothing_finished(tmp_path: Path) -> None:
    data = tmp_path / "amc.jsonl"
    data.write_text("{}\n")
    result = PipelineResult(traces={}, scores={}, failures=[], wall_s=0.0, resumed=0)
    meta = cue_set_metadata(
        load_profile("cpu-demo"), data, 0, 1, seed=0, k=20, max_tokens=1, candidates=[], result=result
    )
    assert (
        meta["pair"]["large"] is None and meta["pair"]["small"] is None and meta["traces"]["ended_by"] == {}
    )
