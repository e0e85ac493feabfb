"""Fold a stream of events into a RunSummary.

The controller uses this to build its own `finished` summary, and replay, the TUI and evaluation use
it on saved traces, so a replayed run reports exactly the numbers the live run did.
"""

from __future__ import annotations

from collections.abc import Iterable

from relaychat.core.events import (
    CueHit,
    RelayEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    RunSummary,
    SegmentEnded,
    SegmentStarted,
    StageChanged,
    Switch,
    TokenDelta,
)


class SummaryBuilder:
    """Folds events into a `RunSummary`. The token path keeps plain counters (pydantic's `__setattr__`
    on every token cost more than the rest of the fold); `summary` and `result()` bring them in."""

    def __init__(self, mode: str = "relay", profile: str = "") -> None:
        self._summary = RunSummary(mode=mode, profile=profile)
        self._reasoning: list[str] = []
        self._answer: list[str] = []
        # per model: [tokens, reasoning_tokens, answer_tokens] from token events
        self._counts: dict[str, list[int]] = {"large": [0, 0, 0], "small": [0, 0, 0]}
        self._ttft_s: float | None = None
        self._wall_s = 0.0

    @property
    def summary(self) -> RunSummary:
        """The counts so far (the text fields are filled by `result()` only)."""
        s = self._summary
        for role, (tokens, reasoning, answer) in self._counts.items():
            stats = s.stats("large" if role == "large" else "small")
            stats.tokens, stats.reasoning_tokens, stats.answer_tokens = tokens, reasoning, answer
        if s.ttft_s is None:
            s.ttft_s = self._ttft_s
        s.wall_s = max(s.wall_s, self._wall_s)
        return s

    def add(self, event: RelayEvent) -> None:
        if isinstance(event, TokenDelta):
            counts = self._counts[event.model]
            count = len(event.token_ids) or len(event.margins) or (1 if event.text else 0)
            counts[0] += count
            if event.stage == "reasoning":
                counts[1] += count
                self._reasoning.append(event.text)
            else:
                counts[2] += count
                self._answer.append(event.text)
            if self._ttft_s is None:
                self._ttft_s = event.t
            if event.t > self._wall_s:
                self._wall_s = event.t
            return
        s = self._summary
        if isinstance(event, RunStarted):
            s.mode, s.profile, s.cue_detection = event.mode, event.profile, event.cue_detection
        elif isinstance(event, SegmentStarted):
            stats = s.stats(event.model)
            stats.segments += 1
            stats.requests += 1
        elif isinstance(event, SegmentEnded):
            stats = s.stats(event.model)
            stats.discarded_tokens += event.discarded_tokens
            if event.ttft_s is not None:
                stats.ttft_s.append(event.ttft_s)
            if event.first_token_t is not None and event.last_token_t is not None:
                stats.decode_s += event.last_token_t - event.first_token_t
                stats.decode_steps += event.decode_tokens
            if event.gap_s is not None:
                s.switch_gaps_s.append(event.gap_s)
            s.prefill_feeds += event.prefill_feeds
            if event.reason == "cue":
                s.discarded_after_cues += event.discarded_tokens
            s.prefill_cancelled += event.prefill_cancelled
            s.early_starts += int(event.early_start)
            s.early_cancelled += event.early_cancelled
            s.finish_reason = event.reason
        elif isinstance(event, CueHit):
            s.cue_hits[event.cue] = s.cue_hits.get(event.cue, 0) + 1
        elif isinstance(event, Switch):
            s.switches += 1
        elif isinstance(event, StageChanged) and event.stage == "answer":
            self._reasoning.append(event.inserted_text)
            if event.appended_marker:
                if s.finish_reason == "reasoning_budget":
                    s.reasoning_ended_by = "budget"
                elif s.finish_reason == "context_limit":
                    s.reasoning_ended_by = "context_limit"
                else:
                    s.reasoning_ended_by = "eos"
            else:
                s.reasoning_ended_by = "marker"
        elif isinstance(event, (RunFinished, RunFailed)):
            return
        if event.t > self._wall_s:
            self._wall_s = event.t

    def result(self) -> RunSummary:
        summary = self.summary
        summary.reasoning = "".join(self._reasoning)
        summary.answer = "".join(self._answer)
        return summary.model_copy(deep=True)


def summarize(events: Iterable[RelayEvent]) -> RunSummary:
    """The summary of a finished list of events (the `finished` event's own, when present)."""
    builder = SummaryBuilder()
    for event in events:
        if isinstance(event, (RunFinished, RunFailed)):
            return event.summary
        builder.add(event)
    return builder.result()
