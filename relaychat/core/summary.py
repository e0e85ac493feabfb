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
    def __init__(self, mode: str = "relay", profile: str = "") -> None:
        self.summary = RunSummary(mode=mode, profile=profile)
        self._reasoning: list[str] = []
        self._answer: list[str] = []

    def add(self, event: RelayEvent) -> None:
        s = self.summary
        if isinstance(event, RunStarted):
            s.mode, s.profile, s.cue_detection = event.mode, event.profile, event.cue_detection
        elif isinstance(event, TokenDelta):
            stats = s.stats(event.model)
            count = len(event.token_ids) or len(event.margins) or (1 if event.text else 0)
            stats.tokens += count
            if event.stage == "reasoning":
                stats.reasoning_tokens += count
                self._reasoning.append(event.text)
            else:
                stats.answer_tokens += count
                self._answer.append(event.text)
            if s.ttft_s is None:
                s.ttft_s = event.t
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
                s.reasoning_ended_by = "budget" if s.finish_reason == "reasoning_budget" else "eos"
            else:
                s.reasoning_ended_by = "marker"
        elif isinstance(event, (RunFinished, RunFailed)):
            return
        s.wall_s = max(s.wall_s, event.t)

    def result(self) -> RunSummary:
        self.summary.reasoning = "".join(self._reasoning)
        self.summary.answer = "".join(self._answer)
        return self.summary.model_copy(deep=True)


def summarize(events: Iterable[RelayEvent]) -> RunSummary:
    """The summary of a finished list of events (the `finished` event's own, when present)."""
    builder = SummaryBuilder()
    for event in events:
        if isinstance(event, (RunFinished, RunFailed)):
            return event.summary
        builder.add(event)
    return builder.result()
