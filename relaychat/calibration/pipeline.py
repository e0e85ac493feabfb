"""The calibration pipeline: traces (large model) feeding scores (small model), resumable.

Both stages run at once: the large server writes traces while the small server scores the finished
ones (on the CPU pair they sit on different cores). Each stage has bounded concurrency; scoring is
kept low because `prompt_logprobs` is neither prefix-cached nor light on memory. Finished items are
appended to `traces.jsonl` / `scores.jsonl` under the output directory as they complete; a rerun
skips them. A failing item is retried with back-off and, if it still fails, reported (never dropped
silently): the analysis refuses to run on incomplete data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from relaychat.backends.errors import BackendError, RequestRejected
from relaychat.calibration.scoring import ScoredTrace, ScoringError, score_trace
from relaychat.calibration.store import JsonlLog, StateError, check_manifest
from relaychat.calibration.traces import TraceFailed, TraceRecord, generate_trace, item_key, item_seed
from relaychat.evaluation.datasets import Problem
from relaychat.relay import Relay
from relaychat.retrying import backoff_s, retryable

Stage = Literal["traces", "scores"]
ProgressCallback = Callable[[Stage, int, int], None]
T = TypeVar("T")
RETRYABLE = (BackendError, TraceFailed, ScoringError)
RETRY_BASE_S = 0.5  # first back-off; doubles each attempt, or longer when a server sends Retry-After


@dataclass(frozen=True)
class WorkItem:
    key: str
    problem: Problem
    sample: int
    seed: int


@dataclass
class Failure:
    key: str
    stage: Stage
    message: str


@dataclass
class PipelineSettings:
    out: Path
    problems: list[Problem]
    samples: int = 4
    max_tokens: int = 2048
    seed: int = 0
    k: int = 20
    concurrency: int = 4
    score_concurrency: int = 2
    retries: int = 2
    identity: dict[str, object] = field(default_factory=dict)  # what saved work must match

    def items(self) -> list[WorkItem]:
        return [
            WorkItem(item_key(p.id, s), p, s, item_seed(self.seed, i, s))
            for i, p in enumerate(self.problems)
            for s in range(self.samples)
        ]


@dataclass
class PipelineResult:
    traces: dict[str, TraceRecord]
    scores: dict[str, ScoredTrace]
    failures: list[Failure]
    wall_s: float
    resumed: int  # items found finished on disk


def traces_log(out: Path) -> JsonlLog:
    return JsonlLog(out / "traces.jsonl")


def scores_log(out: Path) -> JsonlLog:
    return JsonlLog(out / "scores.jsonl")


def load_done(
    out: Path, keys: set[str] | None = None
) -> tuple[dict[str, TraceRecord], dict[str, ScoredTrace]]:
    """Finished traces and scores saved under `out` (only those of `keys`, when given)."""
    traces = {
        r["key"]: TraceRecord.model_validate(r)
        for r in traces_log(out).records()
        if keys is None or r.get("key") in keys
    }
    scores = {
        r["key"]: ScoredTrace.model_validate(r) for r in scores_log(out).records() if r.get("key") in traces
    }
    return traces, scores


def _check_models(
    traces: Mapping[str, TraceRecord], scores: Mapping[str, ScoredTrace], large: str, small: str
) -> None:
    """Saved work must come from the models the servers serve now."""
    for found, now, role in (
        ({t.model for t in traces.values()}, large, "large"),
        ({s.model for s in scores.values()}, small, "small"),
    ):
        other = found - {now}
        if other:
            raise StateError(
                f"the saved {role}-model work was made with {', '.join(sorted(other))}, "
                f"but the {role} server now serves {now}; use another --out directory"
            )


async def _with_retries(make: Callable[[], Awaitable[T]], retries: int) -> T:
    for attempt in range(retries + 1):
        try:
            return await make()
        except RETRYABLE as exc:
            kind = exc.kind if isinstance(exc, (BackendError, TraceFailed)) else None
            if attempt == retries or isinstance(exc, RequestRejected) or not retryable(kind):
                raise  # a 4xx fails the same way again
            await asyncio.sleep(backoff_s(attempt + 1, RETRY_BASE_S, getattr(exc, "retry_after", None)))
    raise AssertionError("unreachable")


async def run_pipeline(
    settings: PipelineSettings,
    relay: Relay,
    on_progress: ProgressCallback = lambda stage, done, total: None,
) -> PipelineResult:
    """Large-model traces through `relay` (its tuned options, as every front end), scored by the small."""
    profile, backends = relay.profile, relay.backends
    started = time.perf_counter()
    check_manifest(settings.out / "calibration.json", settings.identity)
    items = settings.items()
    traces, scores = load_done(settings.out, {i.key for i in items})
    resumed = len(scores)
    failures: list[Failure] = []
    total = len(items)
    on_progress("traces", len(traces), total)
    on_progress("scores", len(scores), total)
    small_info = await backends["small"].info()
    large_info = await backends["large"].info()
    _check_models(traces, scores, large_info.name, small_info.name)
    queue: asyncio.Queue[TraceRecord | None] = asyncio.Queue()
    for record in traces.values():
        if record.key not in scores:
            queue.put_nowait(record)
    generation = asyncio.Semaphore(settings.concurrency)

    async def attempt(stage: Stage, key: str, make: Callable[[], Awaitable[T]]) -> T | None:
        """The item's result, or None after its failure has been recorded."""
        try:
            return await _with_retries(make, settings.retries)
        except RETRYABLE as exc:
            failures.append(Failure(key, stage, str(exc)))
            return None

    async def make_trace(item: WorkItem) -> None:
        async with generation:
            record = await attempt(
                "traces",
                item.key,
                lambda: generate_trace(
                    relay,
                    item.problem,
                    sample=item.sample,
                    seed=item.seed,
                    max_tokens=settings.max_tokens,
                ),
            )
        if record is None:
            return
        traces_log(settings.out).append(record.model_dump())
        traces[record.key] = record
        on_progress("traces", len(traces), total)
        queue.put_nowait(record)

    async def scorer() -> None:
        while (record := await queue.get()) is not None:
            scored = await attempt(
                "scores",
                record.key,
                lambda: score_trace(
                    backends["small"],
                    profile.small.prompt,
                    key=record.key,
                    question=record.question,
                    reasoning=record.reasoning,
                    k=settings.k,
                    max_model_len=small_info.max_model_len,
                ),
            )
            if scored is None:
                continue
            scores_log(settings.out).append(scored.model_dump())
            scores[scored.key] = scored
            on_progress("scores", len(scores), total)

    async with asyncio.TaskGroup() as group:
        scorers = [group.create_task(scorer()) for _ in range(max(1, settings.score_concurrency))]
        await asyncio.gather(*(make_trace(i) for i in items if i.key not in traces))
        for _ in scorers:
            queue.put_nowait(None)
    return PipelineResult(traces, scores, failures, time.perf_counter() - started, resumed)
