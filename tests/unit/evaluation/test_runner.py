"""The evaluation runner on scripted backends: every sample saved, resumed, retried, never mis-scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaychat.backends.errors import RequestRejected, ServerFailed
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.core.events import RunFinished
from relaychat.core.profile import PairProfile, load_profile
from relaychat.core.trace import load_trace
from relaychat.evaluation.datasets import Problem
from relaychat.evaluation.graders import InlineGrader
from relaychat.evaluation.records import ManifestMismatch, ResultStore
from relaychat.evaluation.report import build_report
from relaychat.evaluation.runner import EvalPlan, EvalRunner, manifest_for
from relaychat.relay import open_relay

PROBLEMS = [Problem(id=f"p{i}", question=f"What is {i} + 4?", answer="4", kind="integer") for i in range(2)]
LARGE_TEXT = "Add them. 2 + 2 = 4.\n</think>\n\nThe answer is \\boxed{4}."
SMALL_TEXT = "Add them quickly.\n</think>\n\nIt is \\boxed{5}."


def profile() -> PairProfile:
    return load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 200, "answer_reserve": 40, "shared_tokenizer": False, "small_max_tokens": 30}
    )


def backends(small_reply: Reply | None = None) -> dict[str, ScriptedBackend]:
    large = ScriptedBackend("http://large", name="L", default=Reply(words(LARGE_TEXT)))
    small = ScriptedBackend("http://small", name="S", default=small_reply or Reply(words(SMALL_TEXT)))
    return {"large": large, "small": small}


def plan(**update: object) -> EvalPlan:
    values: dict[str, object] = {
        "problems": PROBLEMS,
        "modes": ["large", "small", "relay"],
        "samples": 2,
        "concurrency": 3,
        "retries": 1,
        "backoff_s": 0.0,
    }
    values.update(update)
    return EvalPlan(**values)  # type: ignore[arg-type]


def runner(tmp_path: Path, the_plan: EvalPlan, engines: dict[str, ScriptedBackend]) -> EvalRunner:
    store = ResultStore(tmp_path / "run")
    store.prepare(manifest_for(profile(), "toy", the_plan))
    relay = open_relay(profile(), backends=engines, policy=None)  # type: ignore[arg-type]
    return EvalRunner(relay, the_plan, store, InlineGrader())


async def test_every_sample_is_recorded_with_its_trace_and_paired_seed(tmp_path: Path) -> None:
    the_plan = plan()
    run = runner(tmp_path, the_plan, backends())
    await run.run()
    records = run.store.load()
    assert set(records) == set(the_plan.keys()) and len(records) == 12
    for key, record in records.items():
        assert record.status == "ok" and record.attempts == 1 and record.summary is not None
        assert record.correct is (record.mode == "large"), key  # the small model answers 5
        assert record.seed == the_plan.seed(record.problem_id, record.sample)
        events = load_trace(run.store.folder / str(record.trace))
        assert isinstance(events[-1], RunFinished) and events[-1].summary == record.summary
    seeds = {(r.problem_id, r.sample): set() for r in records.values()}
    for r in records.values():
        seeds[(r.problem_id, r.sample)].add(r.seed)
    assert all(len(s) == 1 for s in seeds.values())  # every mode of a draw shares its seed
    assert len({next(iter(s)) for s in seeds.values()}) == 4  # draws differ from each other


async def test_a_resumed_run_never_reruns_finished_samples(tmp_path: Path) -> None:
    first = runner(tmp_path, plan(modes=["large"]), backends())
    await first.run()
    lines = first.store.samples_path.read_text().splitlines()
    engines = backends()
    second = runner(tmp_path, plan(modes=["large", "small"]), engines)
    assert [k[1] for k in second.pending()] == ["small"] * 4
    await second.run()
    assert engines["large"].requests == []  # nothing of the large-only part was asked again
    assert second.store.samples_path.read_text().splitlines()[: len(lines)] == lines
    assert len(second.store.load()) == 8


async def test_failures_are_retried_then_recorded_as_failures_not_wrong_answers(tmp_path: Path) -> None:
    broken = Reply(["x"], fail_after=0, error=ServerFailed("small server down", url="http://small"))
    the_plan = plan(modes=["large", "small"], samples=1)
    run = runner(tmp_path, the_plan, backends(broken))
    await run.run()
    records = run.store.load()
    failed = [r for r in records.values() if r.mode == "small"]
    assert len(failed) == 2
    for record in failed:
        assert record.status == "failed" and record.correct is None and record.attempts == 2
        assert record.error is not None and "small server down" in record.error
    report = build_report(records, the_plan.keys())
    small = report.mode("small")
    assert (small.failed, small.scored, small.pass_at_1) == (2, 0, None)
    assert report.mode("large").pass_at_1 == 1.0
    fixed = runner(tmp_path, the_plan, backends())
    assert sorted(fixed.pending()) == sorted(r.key for r in failed)
    await fixed.run()
    assert all(r.status == "ok" for r in fixed.store.load().values())


async def test_a_transient_failure_is_retried_and_counts_its_attempts(tmp_path: Path) -> None:
    engines = backends()
    engines["small"].add(Reply(["x"], fail_after=0, error=ServerFailed("blip", url="http://small")))
    run = runner(tmp_path, plan(problems=PROBLEMS[:1], modes=["small"], samples=1, concurrency=1), engines)
    await run.run()
    (record,) = run.store.load().values()
    assert record.status == "ok" and record.attempts == 2 and record.correct is False


async def test_a_rejected_request_is_not_retried_in_the_same_run(tmp_path: Path) -> None:
    rejected = Reply(
        ["x"], fail_after=0, error=RequestRejected("prompt too long", url="http://small", status=400)
    )
    run = runner(
        tmp_path, plan(problems=PROBLEMS[:1], modes=["small"], samples=1, retries=3), backends(rejected)
    )
    await run.run()
    (record,) = run.store.load().values()
    assert record.status == "failed" and record.attempts == 1 and record.error.startswith("http:")  # type: ignore[union-attr]


async def test_a_line_cut_short_by_a_crash_is_skipped_and_rerun(tmp_path: Path) -> None:
    the_plan = plan(problems=PROBLEMS[:1], modes=["large"], samples=2)
    run = runner(tmp_path, the_plan, backends())
    await run.run()
    lines = run.store.samples_path.read_text().splitlines()
    run.store.samples_path.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])
    assert len(run.store.load()) == 1 and run.store.skipped_lines == 1
    assert len(run.pending()) == 1


def test_a_run_folder_refuses_a_different_setup(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "run")
    store.prepare(manifest_for(profile(), "toy", plan(max_tokens=100)))
    store.prepare(manifest_for(profile(), "toy", plan(max_tokens=100, samples=5)))  # more samples: fine
    with pytest.raises(ManifestMismatch, match="max_tokens"):
        store.prepare(manifest_for(profile(), "toy", plan(max_tokens=300)))
