"""Row 6: 429/503 are retried after the back-off or Retry-After; 4xx are not; timeouts are settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relaychat.backends.errors import ServerBusy
from relaychat.calibration import pipeline
from relaychat.core.profile import load_profile
from relaychat.evaluation import runner as runner_module
from relaychat.evaluation.datasets import Problem
from relaychat.evaluation.graders import InlineGrader
from relaychat.evaluation.records import ResultStore
from relaychat.evaluation.runner import EvalPlan, EvalRunner
from relaychat.relay import open_relay
from tests.fakes.fault_server import Fault
from tests.reliability.conftest import Pair, cli_env, last_event, relaychat, traces


def _records(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def _eval(pair: Pair, tmp_path: Path, *extra: str) -> tuple[int, list[dict[str, object]]]:
    dataset = tmp_path / "one.jsonl"
    dataset.write_text(json.dumps({"id": "p1", "problem": "What is 2 + 2?", "answer": "4"}) + "\n")
    out = tmp_path / "eval"
    result = relaychat(
        "eval", "--dataset", str(dataset), "--modes", "relay", "--out", str(out),
        "--profile", str(pair.profile), "--no-autostart", *extra, timeout=120,
    )  # fmt: skip
    return result.returncode, _records(out)


def test_eval_retries_a_429_with_retry_after_and_scores_the_sample(pair: Pair, tmp_path: Path) -> None:
    pair.large.plan(Fault("status", status=429, retry_after="1"))
    code, records = _eval(pair, tmp_path, "--retries", "2")
    assert code == 0
    assert [(r["status"], r["attempts"], r["correct"]) for r in records] == [("ok", 2, True)]


def test_eval_does_not_retry_a_400(pair: Pair, tmp_path: Path) -> None:
    pair.large.plan(Fault("status", status=400), Fault("status", status=400))
    code, records = _eval(pair, tmp_path, "--retries", "2")
    assert code == 1
    assert [(r["status"], r["attempts"]) for r in records] == [("failed", 1)]
    assert str(records[0]["error"]).startswith("http:")


async def test_the_wait_before_a_retry_is_what_the_server_asked_when_longer(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(runner_module.asyncio, "sleep", no_sleep)
    pair.large.plan(
        Fault("status", status=503, retry_after="7", style="old"),  # longer than the 2 s back-off
        Fault("status", status=429, retry_after="1"),  # shorter than the 4 s back-off
    )
    profile = load_profile(pair.profile)
    plan = EvalPlan([Problem(id="p1", question="2+2?", answer="4")], ["relay"], 1, retries=3, backoff_s=2.0)
    store = ResultStore(tmp_path / "run")
    store.prepare({})
    async with open_relay(profile, policy=None) as relay:
        await EvalRunner(relay, plan, store, InlineGrader()).run()
    assert waits == [7.0, 4.0]
    assert [(r.status, r.attempts) for r in store.load().values()] == [("ok", 3)]


async def test_calibrate_honours_retry_after_and_gives_up_on_4xx(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(pipeline.asyncio, "sleep", no_sleep)
    attempts = iter([ServerBusy("busy", status=429, retry_after=9.0), ServerBusy("busy", status=503)])

    async def make() -> str:
        error = next(attempts, None)
        if error is not None:
            raise error
        return "done"

    assert await pipeline._with_retries(make, retries=3) == "done"
    assert waits == [9.0, 1.0]  # Retry-After, then the 0.5 s back-off doubled


def test_a_stall_longer_than_the_read_timeout_fails_with_the_setting_named(
    pair: Pair, _isolated_home: Path
) -> None:
    pair.large.plan(Fault("stall", after=2, seconds=20))
    flag = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "--read-timeout", "1", "2+2?")
    assert flag.returncode == 1
    message = " ".join(flag.stderr.split())
    assert "sent nothing for 1 s" in message and "--read-timeout" in message
    assert last_event(traces(_isolated_home)[-1])["error"]["kind"] == "timeout"  # type: ignore[index]
    pair.large.plan(Fault("stall", after=2, seconds=20))
    env = cli_env(RELAYCHAT_READ_TIMEOUT="1.5")
    from_env = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "2+2?", env=env)
    assert from_env.returncode == 1 and "sent nothing for 1.5 s" in " ".join(from_env.stderr.split())
