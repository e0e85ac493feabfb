"""Reasoning traces of the large model, generated with the relay's own controller in `large` mode.

Same prompts, sampling and reasoning-end handling as the runtime; the run is closed as soon as the
reasoning ends (no answer is needed), which aborts the request on the server.
"""

from __future__ import annotations

import time
from contextlib import aclosing

from pydantic import BaseModel

from relaychat.core.events import RunFailed, RunStarted, SegmentEnded, StageChanged, TokenDelta
from relaychat.evaluation.datasets import Problem
from relaychat.relay import Relay


class TraceFailed(RuntimeError):
    """The run behind a trace failed; `kind` and `retry_after` say whether and when to try again."""

    def __init__(self, message: str, kind: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class TraceRecord(BaseModel):
    key: str
    problem_id: str
    sample: int
    seed: int
    question: str
    reasoning: str
    tokens: int
    ended_by: str  # marker, budget or eos
    model: str
    wall_s: float


def item_key(problem_id: str, sample: int) -> str:
    return f"{problem_id}-s{sample}"


def item_seed(base_seed: int, problem_index: int, sample: int) -> int:
    """A fixed, distinct seed per (problem, sample), derived from the calibration seed."""
    return (base_seed * 1_000_003 + problem_index * 1_009 + sample) % 2**31


async def generate_trace(
    relay: Relay,
    problem: Problem,
    *,
    sample: int,
    seed: int,
    max_tokens: int,
) -> TraceRecord:
    """One reasoning trace of at most `max_tokens` tokens, without the reasoning-end marker."""
    key = item_key(problem.id, sample)
    profile = relay.profile
    options = relay.options(mode="large", max_tokens=max_tokens, answer_reserve=0, seed=seed, run_id=key)
    controller = relay.controller(options)
    started = time.perf_counter()
    parts: list[str] = []
    tokens = 0
    model = ""
    ended_by = "eos"
    last_reason = ""
    async with aclosing(controller.run([{"role": "user", "content": problem.question}])) as events:
        async for event in events:
            if isinstance(event, RunStarted):
                model = event.large_model
            elif isinstance(event, TokenDelta) and event.stage == "reasoning":
                parts.append(event.text)
                tokens += len(event.token_ids) or len(event.margins)
            elif isinstance(event, SegmentEnded):
                last_reason = event.reason
            elif isinstance(event, StageChanged) and event.stage == "answer":
                if event.appended_marker:
                    ended_by = "budget" if last_reason == "reasoning_budget" else "eos"
                else:
                    ended_by = "marker"
                break
            elif isinstance(event, RunFailed):
                raise TraceFailed(event.error.message, event.error.kind, event.error.retry_after_s)
    reasoning = "".join(parts)
    if profile.reasoning_end in reasoning:
        reasoning = reasoning[: reasoning.index(profile.reasoning_end)]
    return TraceRecord(
        key=key,
        problem_id=problem.id,
        sample=sample,
        seed=seed,
        question=problem.question,
        reasoning=reasoning,
        tokens=tokens,
        ended_by=ended_by,
        model=model,
        wall_s=time.perf_counter() - started,
    )
