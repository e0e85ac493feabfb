"""The RelayGen state machine (docs/how-it-works.md, "The relay") as an async generator of typed events.

One generation is one shared sequence of tokens that both models continue in turn:

    prompt | large ... cue -> small ... sentence end -> large ... | reasoning end | answer model

1. The large model writes until a cue (at least `min_tokens` first); 2. the small model finishes that
sentence; 3. back to the large model; 4. either model's reasoning-end marker ends the reasoning, and
the relay appends the marker when the budget runs out or a model ends its text without it; 5. the
answer model writes the answer. A single-model mode runs the same loop with one model and no switch.

This module is that loop and nothing else. Its collaborators each have one job:
- `RelayPlan` (plan.py): the settings resolved once, and how each model's turn runs;
- `Generation` (generation.py): one run's shared sequence, prompts and server facts;
- `Segment` (segment.py): one request streamed to its cut (cues at word boundaries, sentence ends,
  the marker, found on the token stream by `CutScanner`, or by the server's stop strings when it
  takes the cue list: `choose_cue_path`), reporting its `SegmentOutcome`;
- `segment_end_reason` (end_reason.py): why a segment ended;
- `Warmup` (warmup.py): feeds and early starts that warm the idle model, and what they learn across
  runs in a `WarmupMemory` that outlives the controller's generations.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

from relaychat.backends.base import Backend
from relaychat.backends.errors import BackendError
from relaychat.core.events import (
    ErrorInfo,
    RelayEvent,
    Role,
    RunFailed,
    RunFinished,
    RunStarted,
    SegmentTrigger,
    StageChanged,
    Switch,
)
from relaychat.core.generation import Generation
from relaychat.core.memory import WarmupMemory
from relaychat.core.plan import RelayOptions, RelayPlan
from relaychat.core.profile import PairProfile
from relaychat.core.prompt import Message
from relaychat.core.requests import choose_cue_path
from relaychat.core.segment import Segment
from relaychat.core.summary import SummaryBuilder
from relaychat.core.warmup import Warmup
from relaychat.redact import redact_text

__all__ = ("RelayController", "RelayOptions", "WarmupMemory")


class RelayController:
    """Runs generations over a large and a small backend; each `run()` has its own `Generation`.

    It holds only what outlives a generation: the profile, the backends, the options and the warm-up
    memory. Pass one `WarmupMemory` to the controllers of one session to share what they learn.
    """

    def __init__(
        self,
        profile: PairProfile,
        backends: Mapping[Role, Backend],
        options: RelayOptions | None = None,
        memory: WarmupMemory | None = None,
    ) -> None:
        self.profile = profile
        self.backends = dict(backends)
        self.options = options or RelayOptions()
        self.plan = RelayPlan.of(profile, self.options)  # ValueError when the budgets cannot work
        self.memory = memory if memory is not None else WarmupMemory()

    async def run(self, conversation: list[Message]) -> AsyncGenerator[RelayEvent, None]:
        """Generate one reply to `conversation` (which ends with the user's question)."""
        t0 = time.perf_counter()
        plan = self.plan
        gen = Generation(self.profile, plan, self.backends, lambda: time.perf_counter() - t0)
        warmup = Warmup(gen, self.options, self.memory)
        builder = SummaryBuilder(plan.mode, self.profile.name)

        def emit(event: RelayEvent) -> RelayEvent:
            builder.add(event)
            return event

        try:
            await gen.open(conversation)
            await warmup.prepare()
            gen.cue_path = await choose_cue_path(
                self.options.cue_detection, plan.relay and bool(plan.cues), plan.stops, self.backends["large"]
            )
            yield emit(
                RunStarted(
                    t=gen.clock(),
                    run_id=self.options.run_id or uuid.uuid4().hex[:12],
                    mode=plan.mode,
                    profile=self.profile.name,
                    large_model=gen.names["large"],
                    small_model=gen.names["small"],
                    answer_model=plan.answer_model,
                    messages=conversation,
                    max_tokens=plan.max_tokens,
                    cues=plan.cues,
                    handoff=gen.handoff,
                    cue_detection=gen.cue_path,
                )
            )
            yield emit(StageChanged(t=gen.clock(), stage="reasoning"))
            warmup.reasoning_started()
            async for event in self._relay(gen, warmup):
                yield emit(event)
            summary = builder.result()
            totals = await warmup.finish()
            for role, wasted in totals.wasted_tokens.items():
                summary.stats(role).early_wasted_tokens += wasted
                summary.early_wasted_tokens += wasted
            summary.early_cancelled += totals.cancelled
            yield RunFinished(t=gen.clock(), summary=summary)
        except BackendError as exc:
            failed_role = self._role_of(exc)
            retry_after = getattr(exc, "retry_after", None)
            yield RunFailed(
                t=gen.clock(),
                error=ErrorInfo(
                    kind=exc.kind,
                    message=str(exc),
                    model=failed_role,
                    status=exc.status,
                    retry_after_s=retry_after,
                ),
                summary=builder.result(),
            )
        except Exception as exc:
            # A bug or an unforeseen reply: still a `failed` event, with the partial output.
            yield RunFailed(
                t=gen.clock(),
                error=ErrorInfo(
                    kind="internal", message=redact_text(f"internal error: {type(exc).__name__}: {exc}")
                ),
                summary=builder.result(),
            )
        finally:
            await warmup.aclose()

    async def _relay(self, gen: Generation, warmup: Warmup) -> AsyncIterator[RelayEvent]:
        """Steps 1-4: the models take turns until the marker, the budget or an end of text; then step 5."""
        plan = gen.plan
        active: Role = plan.first
        trigger: SegmentTrigger = "start"
        cue: str | None = None
        while True:
            if plan.reasoning_budget - gen.seq.tokens <= 0:
                async for event in self._append_marker(gen, warmup):
                    yield event
                break
            turn = plan.turn(active, gen.seq.tokens)
            segment = Segment(gen, warmup, active, "reasoning", trigger, turn, cue)
            async for event in segment.events():
                yield event
            outcome = segment.outcome
            if outcome.answer_in_stream:
                return  # one model wrote the marker and went on with the answer in the same stream
            if outcome.reason == "reasoning_end":
                async for event in self._separate_answer(gen):
                    yield event
                break
            if outcome.reason == "server_stop" and outcome.kept > 0:
                trigger, cue = "resume", None
                continue  # same model, new request: nothing was handed over
            if outcome.reason in ("eos", "reasoning_budget", "length", "context_limit") or (
                outcome.kept == 0 and turn.detect == "cue"
            ):
                async for event in self._append_marker(gen, warmup):
                    yield event
                break
            if not plan.relay:
                continue  # a single-model stream ended without a cut: keep writing
            other: Role = "small" if active == "large" else "large"
            yield Switch(
                t=gen.clock(), from_model=active, to_model=other, reason=outcome.reason, cue=outcome.cue
            )
            trigger = "cue" if outcome.reason == "cue" else outcome.reason  # type: ignore[assignment]
            cue = outcome.cue
            active = other
        async for event in self._answer(gen, warmup):
            yield event

    async def _append_marker(self, gen: Generation, warmup: Warmup) -> AsyncIterator[RelayEvent]:
        """Step 4's fallback: end the reasoning for the model (budget spent, or end of text without it)."""
        warmup.no_turn()
        text = gen.marker_text()
        await self._insert(gen, text)
        yield StageChanged(t=gen.clock(), stage="answer", appended_marker=True, inserted_text=text)

    async def _separate_answer(self, gen: Generation) -> AsyncIterator[RelayEvent]:
        """A model wrote the marker, and its stream stopped right there: add the blank line the chat
        templates put after it. Qwen3 and R1 would write it themselves; a model that does not reason
        (the CPU demo's small model) takes a prompt ending in the bare marker as a finished turn and
        answers nothing."""
        text = gen.answer_separator()
        await self._insert(gen, text)
        yield StageChanged(t=gen.clock(), stage="answer", inserted_text=text)

    async def _insert(self, gen: Generation, text: str) -> None:
        """Text the relay writes into the shared sequence itself, as the answer model tokenizes it
        when the models hand over token ids."""
        if not text:
            return
        ids: list[int] = []
        if gen.handoff == "token_ids":
            ids = await self.backends[gen.plan.answer_model].tokenize(text, add_special_tokens=False)
        gen.seq.extend(text, ids, 0)

    async def _answer(self, gen: Generation, warmup: Warmup) -> AsyncIterator[RelayEvent]:
        """Step 5: the answer model continues from the whole reasoning."""
        warmup.no_turn()
        trigger: SegmentTrigger = "reasoning_end"
        plan = gen.plan
        while plan.max_tokens - gen.seq.tokens > 0:
            turn = plan.answer_turn(gen.seq.tokens)
            segment = Segment(gen, warmup, plan.answer_model, "answer", trigger, turn)
            async for event in segment.events():
                yield event
            if segment.outcome.reason != "length" or segment.outcome.kept == 0:
                return
            trigger = "resume"  # the request hit the server's context cap, not the budget: go on

    def _role_of(self, exc: BackendError) -> Role | None:
        for role, backend in self.backends.items():
            if exc.url and exc.url.rstrip("/") == backend.url.rstrip("/"):
                return role
        return None
