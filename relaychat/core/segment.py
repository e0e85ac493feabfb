"""One segment: one request to one model, streamed until the server ends it or the client cuts it.

The segment builds its request from the generation's shared sequence, adopts a stream started early
for it (or sends the request), shows tokens as they come, and stops at the first cut `CutScanner`
finds: a cue, a sentence end, the reasoning marker. Tokens streamed past the cut (the look-ahead that
confirmed it) are dropped and counted as discarded; closing the stream aborts the request on the
server. After its events it reports what happened in `outcome`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass

from relaychat.backends.base import StreamEnd, Token
from relaychat.backends.errors import RequestRejected, overflows_context
from relaychat.core.cuts import CutScanner
from relaychat.core.early_start import EarlyStart, Timed, timed
from relaychat.core.end_reason import segment_end_reason
from relaychat.core.events import (
    CueHit,
    RelayEvent,
    Role,
    SegmentEnded,
    SegmentEndReason,
    SegmentStarted,
    SegmentTrigger,
    Stage,
    StageChanged,
    TokenDelta,
    token_delta,
)
from relaychat.core.generation import Generation
from relaychat.core.margin import margin_from_logprobs
from relaychat.core.plan import Turn
from relaychat.core.warmup import Warmup


@dataclass(frozen=True)
class SegmentOutcome:
    reason: SegmentEndReason
    kept: int  # tokens kept in the shared sequence
    cue: str | None = None  # the cue it was cut at
    answer_in_stream: bool = False  # a single-model stream crossed the marker into the answer


NO_TURN = SegmentOutcome("length", 0)  # no token could be asked for: budget or context used up


@dataclass
class _Timing:
    sent: float  # when the request went out (an adopted early start: when it was sent ahead)
    first_t: float | None = None  # first token, on the run's clock
    first_arrival: float | None = None  # first token's arrival, as the stream recorded it
    last_t: float | None = None
    first_chunk_tokens: int = 0
    prompt_tokens: int | None = None  # the server's own count of the request's prompt, when it sent one


class Segment:
    """One turn of one model: `events()` streams it, then `outcome` says how it ended."""

    def __init__(
        self,
        gen: Generation,
        warmup: Warmup,
        role: Role,
        stage: Stage,
        trigger: SegmentTrigger,
        turn: Turn,
        cue: str | None = None,
    ) -> None:
        self._gen, self._warmup = gen, warmup
        self.role, self.stage, self.trigger, self.turn, self.cue = role, stage, trigger, turn, cue
        self._outcome: SegmentOutcome | None = None
        self._index = -1

    @property
    def outcome(self) -> SegmentOutcome:
        """What happened; read it once `events()` is exhausted."""
        if self._outcome is None:
            raise RuntimeError("the segment has not finished")
        return self._outcome

    async def events(self) -> AsyncIterator[RelayEvent]:
        """`segment_start`, the kept tokens as they come, then `cue_hit` (at a cue) and `segment_end`.

        Nothing at all when no token may be asked for (`NO_TURN`); a backend error propagates."""
        gen, role, stage = self._gen, self.role, self.stage
        index = self._index = gen.next_index()
        prompt = gen.prompt(role)
        request = gen.request(role, prompt, index, self.turn, stage)
        context_bound = gen.context_bound
        if request is None:
            self._warmup.no_turn()
            if context_bound:  # the window is full: say so, as a segment that wrote nothing
                for event in self._context_full(index, prompt):
                    yield event
                return
            self._outcome = NO_TURN
            return
        early = self._warmup.segment_starting(role, stage, prompt, request)
        yield SegmentStarted(
            t=gen.clock(),
            index=index,
            model=role,
            stage=stage,
            trigger=self.trigger,
            cue=self.cue,
            prompt_tokens=gen.prompt_len(role, prompt),
        )
        timing = _Timing(sent=early.sent_t if early is not None else gen.clock())
        scanner = self._scanner()
        tokens = scanner.tokens
        emitted = 0
        end = StreamEnd()
        source: AsyncGenerator[Timed, None] = (
            early.items() if early is not None else timed(gen.backends[role].stream(request), gen.clock)
        )
        try:
            async with aclosing(source) as stream:
                async for arrived, item in stream:
                    if isinstance(item, StreamEnd):
                        end = item
                        break
                    if item.prompt_token_ids and timing.first_t is None:
                        timing.prompt_tokens = len(item.prompt_token_ids)
                        if gen.handoff == "text":
                            gen.counted(role, timing.prompt_tokens)
                    if not item.tokens:
                        continue
                    now = gen.clock()
                    if timing.first_t is None:
                        timing.first_t, timing.first_arrival = now, arrived
                        timing.first_chunk_tokens = len(item.tokens)
                    timing.last_t = now
                    scanner.add_chunk(item.tokens)
                    cut = scanner.cut
                    if cut is not None:
                        cut.index = max(cut.index, emitted - 1)  # never take back what was shown
                    upto = len(tokens) if cut is None else cut.index + 1
                    answer_from = scanner.answer_from
                    if answer_from is not None and emitted < answer_from <= upto:
                        yield self._delta("reasoning", tokens[emitted:answer_from])
                        emitted = answer_from
                        gen.seq.record(tokens[:answer_from], scanner.text_of(0, answer_from))
                        yield StageChanged(t=gen.clock(), stage="answer")
                    if upto > emitted:
                        shown_as = "answer" if answer_from is not None else stage
                        yield self._delta(shown_as, tokens[emitted:upto])
                        emitted = upto
                    if cut is not None:
                        break
                    self._warmup.streamed(scanner, emitted)
        except RequestRejected as exc:
            if not overflows_context(exc) or emitted:
                raise
            # The window estimate (text handoffs) was short: the server's refusal ends it the same way.
            self._warmup.no_turn()
            self._outcome = SegmentOutcome("context_limit", 0)
            yield SegmentEnded(
                t=gen.clock(), index=index, model=role, stage=stage, reason="context_limit", tokens=0
            )
            return
        for event in self._finish(scanner, end, emitted, index, timing, early, context_bound):
            yield event

    def _context_full(self, index: int, prompt: object) -> Iterator[RelayEvent]:
        gen = self._gen
        yield SegmentStarted(
            t=gen.clock(),
            index=index,
            model=self.role,
            stage=self.stage,
            trigger=self.trigger,
            cue=self.cue,
            prompt_tokens=gen.prompt_len(self.role, prompt),  # type: ignore[arg-type]
        )
        self._outcome = SegmentOutcome("context_limit", 0)
        yield SegmentEnded(
            t=gen.clock(), index=index, model=self.role, stage=self.stage, reason="context_limit", tokens=0
        )

    def _scanner(self) -> CutScanner:
        gen, plan, turn = self._gen, self._gen.plan, self.turn
        single = turn.detect == "none"
        seq = gen.seq
        return CutScanner(
            context=seq.tail,
            detect=turn.detect,
            stage=self.stage,
            matcher=plan.matcher,
            marker=plan.marker,
            end_texts=gen.profile.spec(self.role).prompt.end_texts,
            min_tokens=turn.min_tokens,
            answer_in_stream=single and plan.answer_model == self.role,
            budget_left=plan.reasoning_budget - seq.tokens if single else None,
            text_offset=len(seq.text) - len(seq.tail),
            sentences=seq.sentences if turn.detect == "sentence" else None,
        )

    def _finish(
        self,
        scanner: CutScanner,
        end: StreamEnd,
        kept: int,
        index: int,
        timing: _Timing,
        early: EarlyStart | None,
        context_bound: bool = False,
    ) -> Iterator[RelayEvent]:
        """Keep what was shown, name the end, and report: the segment's closing events."""
        gen, tokens = self._gen, scanner.tokens
        # An adopted early stream may have buffered tokens past the cut that the loop never read.
        unread = max(early.received_tokens - len(tokens), 0) if early is not None else 0
        answer_from = scanner.answer_from
        gen.seq.record(tokens[answer_from or 0 : kept], scanner.text_of(answer_from or 0, kept))
        cut = scanner.cut
        reason = segment_end_reason(
            cut,
            end,
            self.stage,
            in_answer=answer_from is not None,
            reasoning_spent=gen.seq.tokens >= gen.plan.reasoning_budget,
            context_bound=context_bound,
        )
        if cut is not None and cut.cue is not None:
            self._warmup.cue_written(self.role, cut.cue)
            yield CueHit(t=gen.clock(), cue=cut.cue, segment=index, offset=cut.cue_offset or 0)
        gap = gen.switch_gap(timing.first_t, timing.last_t)
        self._outcome = SegmentOutcome(reason, kept, cut.cue if cut else None, answer_from is not None)
        warmed = self._warmup.segment_report()
        arrival = timing.first_arrival
        yield SegmentEnded(
            t=gen.clock(),
            index=index,
            model=self.role,
            stage=self.stage,
            reason=reason,
            tokens=kept,
            discarded_tokens=len(tokens) - kept + unread,
            ttft_s=None if arrival is None else arrival - timing.sent,
            first_token_t=timing.first_t,
            last_token_t=timing.last_t,
            decode_tokens=max(len(tokens) - timing.first_chunk_tokens, 0),
            gap_s=gap,
            prefill_feeds=warmed.feeds,
            prefill_cancelled=warmed.feeds_cancelled,
            early_start=early is not None,
            early_cancelled=warmed.early_cancelled,
            prompt_tokens=timing.prompt_tokens,
        )

    def _delta(self, stage: Stage, tokens: list[Token]) -> TokenDelta:
        # Built without validating again: every value is typed by construction (same event, same JSON).
        return token_delta(
            self._gen.clock(),
            self.role,
            self._index,
            stage,
            "".join([t.text for t in tokens]),
            [t.id for t in tokens if t.id is not None],
            [margin_from_logprobs(t.top_logprobs.values()) if t.top_logprobs else None for t in tokens],
        )
