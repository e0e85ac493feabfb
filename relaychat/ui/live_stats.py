"""Numbers for the live panels, folded from the events of one generation (no Textual in here).

Everything is derived from event fields (`t`, token counts, margins), so a replayed trace shows the
numbers the live run showed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from relaychat.core.events import (
    MIN_DECODE_SPAN_S,
    CueHit,
    ErrorInfo,
    RelayEvent,
    Role,
    RunFailed,
    RunFinished,
    RunStarted,
    RunSummary,
    SegmentEnded,
    SegmentStarted,
    TokenDelta,
)
from relaychat.core.summary import SummaryBuilder
from relaychat.inert import inert
from relaychat.projection.shape import ShapeBuilder


@dataclass
class CueStat:
    """One cue: how often it fired, what the small model wrote after it, how sure it was."""

    cue: str
    count: int = 0
    small_tokens: int = 0
    margin_sum: float = 0.0
    margin_n: int = 0

    @property
    def mean_margin(self) -> float | None:
        return self.margin_sum / self.margin_n if self.margin_n else None


@dataclass
class SegmentRate:
    """The last finished segment of one model, as the status panel shows it."""

    tokens: int
    ttft_s: float | None
    tok_s: float | None


@dataclass
class SpeedupEstimate:
    wall_s: float
    large_only_s: float | None  # the same tokens at the large model's decode rate
    speedup: float | None
    large_share: float | None
    bound: float | None  # 1 / large share: the speedup with a free small model
    switches: int
    large_tok_s: float | None


@dataclass
class _RateMeter:
    """Streaming decode rate: tokens after the first of each segment over first->last token time."""

    steps: int = 0
    seconds: float = 0.0
    open_first: float | None = None
    open_last: float | None = None
    open_tokens: int = 0

    def token(self, t: float, count: int) -> None:
        if self.open_first is None:
            # The first chunk's tokens (sometimes a burst) arrived within the TTFT, not the decode span.
            self.open_first = self.open_last = t
            return
        self.open_last = t
        self.open_tokens += count

    def close(self) -> None:
        if self.open_first is not None and self.open_last is not None:
            self.steps += self.open_tokens
            self.seconds += self.open_last - self.open_first
        self.open_first = self.open_last = None
        self.open_tokens = 0

    @property
    def tok_s(self) -> float | None:
        steps, seconds = self.steps + self.open_tokens, self.seconds
        if self.open_first is not None and self.open_last is not None:
            seconds += self.open_last - self.open_first
        return steps / seconds if seconds >= MIN_DECODE_SPAN_S and steps > 0 else None


def token_count(delta: TokenDelta) -> int:
    return len(delta.token_ids) or len(delta.margins) or (1 if delta.text else 0)


class LiveStats:
    def __init__(self, reference_large_tok_s: float | None = None, window: int = 1024) -> None:
        self.reference_large_tok_s = reference_large_tok_s  # from an earlier run, until this one measures
        self.builder = SummaryBuilder()
        self.shape = ShapeBuilder("live")  # the run's structure, for the "projected on" line
        self.models: dict[Role, str] = {}
        self.mode = "relay"
        self.margins: deque[tuple[Role, float | None]] = deque(maxlen=window)
        self.current: Role | None = None
        self._margin_sum: dict[Role, float] = {"large": 0.0, "small": 0.0}
        self._margin_n: dict[Role, int] = {"large": 0, "small": 0}
        self.cues: dict[str, CueStat] = {}
        self._pending_cue: str | None = None
        self._cue_segment: tuple[int, CueStat] | None = None
        self.last_segment: dict[Role, SegmentRate] = {}
        self._segment_meter: dict[int, _RateMeter] = {}
        self._rates: dict[Role, _RateMeter] = {"large": _RateMeter(), "small": _RateMeter()}
        self._large_ttft: list[float] = []
        self.now_t = 0.0
        self.final: RunSummary | None = None
        self.error: ErrorInfo | None = None

    # -- folding --------------------------------------------------------------------------------

    def add(self, event: RelayEvent) -> None:
        self.now_t = max(self.now_t, event.t)
        self.shape.add(event)
        if isinstance(event, (RunFinished, RunFailed)):
            self.final = event.summary
            self.error = event.error if isinstance(event, RunFailed) else None
            return
        self.builder.add(event)
        if isinstance(event, TokenDelta):
            self._token(event)
        elif isinstance(event, RunStarted):
            self.models = {"large": inert(event.large_model), "small": inert(event.small_model)}
            self.mode = event.mode
        elif isinstance(event, SegmentStarted):
            self.current = event.model
            self._segment_meter[event.index] = _RateMeter()
            if event.model == "small" and event.trigger == "cue" and self._pending_cue is not None:
                self._cue_segment = (event.index, self.cues[self._pending_cue])
            self._pending_cue = None
        elif isinstance(event, CueHit):
            stat = self.cues.setdefault(event.cue, CueStat(event.cue))
            stat.count += 1
            self._pending_cue = event.cue
        elif isinstance(event, SegmentEnded):
            self._rates[event.model].close()
            meter = self._segment_meter.pop(event.index, _RateMeter())
            meter.close()
            self.last_segment[event.model] = SegmentRate(event.tokens, event.ttft_s, meter.tok_s)
            if event.model == "large" and event.ttft_s is not None:
                self._large_ttft.append(event.ttft_s)

    def _token(self, delta: TokenDelta) -> None:
        count = token_count(delta)
        self._rates[delta.model].token(delta.t, count)
        meter = self._segment_meter.get(delta.segment)
        if meter is not None:
            meter.token(delta.t, count)
        margins = delta.margins or [None] * count
        for margin in margins:
            self.margins.append((delta.model, margin))
            if margin is not None:
                self._margin_sum[delta.model] += margin
                self._margin_n[delta.model] += 1
        if self._cue_segment is not None and self._cue_segment[0] == delta.segment:
            stat = self._cue_segment[1]
            stat.small_tokens += count
            known = [m for m in margins if m is not None]
            stat.margin_sum += sum(known)
            stat.margin_n += len(known)

    # -- what the panels show ---------------------------------------------------------------------

    @property
    def running(self) -> RunSummary:
        """Counts so far (text fields are not filled: joining them per frame would cost O(n))."""
        return self.final or self.builder.summary

    def last_margin(self, role: Role | None = None) -> float | None:
        for writer, margin in reversed(self.margins):
            if (role is None or writer == role) and margin is not None:
                return margin
        return None

    def mean_margin(self, role: Role) -> float | None:
        n = self._margin_n[role]
        return self._margin_sum[role] / n if n else None

    def decode_tok_s(self, role: Role) -> float | None:
        return self._rates[role].tok_s

    def speedup(self) -> SpeedupEstimate:
        summary = self.running
        wall = summary.wall_s if self.final is not None else self.now_t
        rate = self.decode_tok_s("large") or self.reference_large_tok_s
        share = summary.large_share
        large_only: float | None = None
        speedup: float | None = None
        if rate and summary.total_tokens:
            ttft = sum(self._large_ttft) / len(self._large_ttft) if self._large_ttft else 0.0
            large_only = ttft + summary.total_tokens / rate
            speedup = large_only / wall if wall > 0 else None
        return SpeedupEstimate(
            wall_s=wall,
            large_only_s=large_only,
            speedup=speedup,
            large_share=share,
            bound=1 / share if share else None,
            switches=summary.switches,
            large_tok_s=rate,
        )
