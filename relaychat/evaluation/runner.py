"""Run every (problem, mode, sample) through the relay controller, concurrently and resumably.

Each sample is one `RelayController.run()` with the same prompt (the profile's format and
instruction), the same sampling and the same grader in every mode; its seed depends only on
(problem, sample), so the modes are compared on paired draws. Samples are interleaved across modes so
that server load is shared fairly, each one is saved (record + event trace) as soon as it ends, and
a failure is retried with backoff and, if it persists, recorded as a failure, never as a wrong answer.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from relaychat.backends.replicas import pinned
from relaychat.core.events import Mode, RunFailed, RunFinished
from relaychat.core.profile import PairProfile
from relaychat.core.trace import recorded
from relaychat.evaluation.datasets import Problem
from relaychat.evaluation.graders import Grader, GradingFailed
from relaychat.evaluation.records import ResultStore, SampleKey, SampleRecord
from relaychat.relay import Relay
from relaychat.retrying import backoff_s, retryable


@dataclass(frozen=True)
class EvalPlan:
    problems: Sequence[Problem]
    modes: Sequence[Mode]
    samples: int
    max_tokens: int | None = None
    base_seed: int = 0
    concurrency: int = 2
    retries: int = 2  # extra attempts after the first
    backoff_s: float = 2.0

    def keys(self) -> list[SampleKey]:
        """Problem-major, then sample, then mode: the modes of one draw run side by side."""
        return [(p.id, m, k) for p in self.problems for k in range(self.samples) for m in self.modes]

    def seed(self, problem_id: str, sample: int) -> int:
        return zlib.crc32(f"{self.base_seed}:{problem_id}:{sample}".encode()) % 2**31


ProgressCallback = Callable[[SampleRecord], None]


def pending_keys(plan: EvalPlan, store: ResultStore) -> list[SampleKey]:
    """The plan's samples without an `ok` record in `store`: never run, or failed before."""
    done = {k for k, r in store.load().items() if r.status == "ok"}
    return [k for k in plan.keys() if k not in done]


class EvalRunner:
    """Runs the plan's samples on one relay (`relaychat.relay`): its tuned options, its warm-up
    memory shared by all the runner's generations, like a chat session's."""

    def __init__(
        self,
        relay: Relay,
        plan: EvalPlan,
        store: ResultStore,
        grader: Grader,
        on_record: ProgressCallback | None = None,
    ) -> None:
        self.relay = relay
        self.profile = relay.profile
        self.plan = plan
        self.store = store
        self.grader = grader
        self.on_record = on_record
        self._problems = {p.id: p for p in plan.problems}

    def pending(self) -> list[SampleKey]:
        """Samples without an `ok` record: never run, or failed before."""
        return pending_keys(self.plan, self.store)

    async def run(self) -> None:
        queue: asyncio.Queue[SampleKey] = asyncio.Queue()
        for key in self.pending():
            queue.put_nowait(key)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(max(1, self.plan.concurrency))]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, queue: asyncio.Queue[SampleKey]) -> None:
        while True:
            try:
                key = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            record = await self._sample_with_retries(key)
            self.store.append(record)
            if self.on_record:
                self.on_record(record)

    async def _sample_with_retries(self, key: SampleKey) -> SampleRecord:
        attempt = 0
        while True:
            attempt += 1
            record = await self.sample(key)
            record.attempts = attempt
            kind = (record.error or "").partition(":")[0]
            if record.status != "failed" or not retryable(kind) or attempt > self.plan.retries:
                return record
            await asyncio.sleep(backoff_s(attempt, self.plan.backoff_s, record.retry_after_s))

    async def sample(self, key: SampleKey) -> SampleRecord:
        """One attempt at one sample: generate (saving the trace), then grade."""
        problem_id, mode, index = key
        problem = self._problems[problem_id]
        seed = self.plan.seed(problem_id, index)
        trace = self.store.trace_path(key)
        base = SampleRecord(
            problem_id=problem_id,
            mode=mode,
            sample=index,
            seed=seed,
            status="failed",
            reference=problem.answer,
            trace=str(trace.relative_to(self.store.folder)),
        )
        options = self.relay.options(mode=mode, max_tokens=self.plan.max_tokens, seed=seed)
        final: RunFinished | RunFailed | None = None
        try:
            async with pinned(self.relay.backends, key=None) as backends:
                controller = self.relay.controller(options, backends=backends)
                events = controller.run([{"role": "user", "content": problem.question}])
                async for event, _ in recorded(events, path=trace):
                    if isinstance(event, (RunFinished, RunFailed)):
                        final = event
        except Exception as exc:
            return base.model_copy(update={"error": f"internal: {type(exc).__name__}: {exc}"})
        if final is None:
            return base.model_copy(update={"error": "internal: the run ended without a final event"})
        if isinstance(final, RunFailed):
            error = f"{final.error.kind}: {final.error.message}"
            update = {"error": error, "summary": final.summary, "retry_after_s": final.error.retry_after_s}
            return base.model_copy(update=update)
        summary = final.summary
        try:
            verdict = await self.grader.grade(problem, summary.answer, summary.reasoning)
        except GradingFailed as exc:
            return base.model_copy(update={"error": f"grading: {exc}", "summary": summary})
        return base.model_copy(
            update={
                "status": "ok",
                "correct": verdict.correct,
                "extracted": verdict.extracted,
                "grade_source": verdict.source,
                "summary": summary,
            }
        )


def manifest_for(profile: PairProfile, dataset: str, plan: EvalPlan) -> dict[str, object]:
    """What must stay the same for records to be comparable and resumable."""
    return {
        "dataset": dataset,
        "profile": profile.name,
        "prompts": {r: profile.spec(r).prompt.model_dump() for r in ("large", "small")},
        "sampling": {r: profile.spec(r).sampling.model_dump() for r in ("large", "small")},
        "cues": list(profile.cues),
        "max_tokens": plan.max_tokens or profile.max_tokens,
        "base_seed": plan.base_seed,
    }


def default_out_dir(root: Path, dataset: str, profile: PairProfile, plan: EvalPlan) -> Path:
    name = Path(dataset).stem if dataset.endswith((".jsonl", ".csv", ".json")) else dataset
    return (
        root / "eval" / f"{name}-{profile.name}-t{plan.max_tokens or profile.max_tokens}-seed{plan.base_seed}"
    )
