"""The token and switch structure of a saved relay trace: what a projection replays.

Only the structure counts: which model wrote how many tokens in which order, how long the prompt was,
and where the relay warmed the next model up (feeds, early starts). Text, margins and timings are
left behind, except the measured wall time, which validation compares against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from relaychat.core.events import (
    RelayEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    SegmentEnded,
    SegmentStarted,
    Switch,
    TokenDelta,
)
from relaychat.core.trace import TraceError, load_trace

# Prompt tokens when the trace does not record them (text handoffs): characters per token of English
# text, plus a chat template's own tokens. Only the first request's prefill depends on it.
CHARS_PER_TOKEN = 4.0
TEMPLATE_TOKENS = 16


class ShapeError(ValueError):
    """A trace that cannot be projected; the message is one line that says why."""


@dataclass(frozen=True)
class SegmentShape:
    model: str  # "large" | "small"
    stage: str
    tokens: int  # kept in the output
    decoded: int  # kept + streamed past a cut (the server decoded them all)
    fed: bool  # the idle server was fed while this segment streamed
    early_start: bool  # this segment's request went out before the previous cut was confirmed


@dataclass(frozen=True)
class TraceShape:
    name: str
    mode: str
    profile: str
    prompt_tokens: int
    prompt_estimated: bool
    segments: tuple[SegmentShape, ...]
    wall_s: float
    switches: int
    # Each model's own prompt before the shared text, where the trace shows it (the server's count of
    # its first request, less the text before it): the demo pair's large model reads worked examples
    # its small model never sees. A model missing here reads `prompt_tokens`.
    prefix_by_model: Mapping[str, int] = field(default_factory=dict)

    def prefix(self, model: str) -> int:
        return self.prefix_by_model.get(model, self.prompt_tokens)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.segments)

    def tokens_by(self, role: str) -> int:
        return sum(s.tokens for s in self.segments if s.model == role)

    @property
    def large_share(self) -> float:
        total = self.tokens
        return self.tokens_by("large") / total if total else 0.0


class ShapeBuilder:
    """Folds events into a shape as they come, so a live panel can project a run still streaming.

    The open segment counts the tokens streamed so far; a token costs one isinstance check and an add.
    """

    def __init__(self, name: str = "trace") -> None:
        self.name = name
        self.started: RunStarted | None = None
        self.segments: list[SegmentShape] = []
        self.prompt_tokens: int | None = None
        self.prefixes: dict[str, int] = {}
        self.kept = 0  # tokens of the shared text so far
        self.open_model: str | None = None
        self.open_stage = "reasoning"
        self.open_tokens = 0
        self.switches = 0
        self.last_t = 0.0

    def add(self, event: RelayEvent) -> None:
        if isinstance(event, TokenDelta):
            self.open_tokens += len(event.token_ids) or len(event.margins) or (1 if event.text else 0)
            self.last_t = event.t
        elif isinstance(event, SegmentStarted):
            self.open_model, self.open_stage, self.open_tokens = event.model, event.stage, 0
            if self.prompt_tokens is None and event.index == 0 and event.prompt_tokens:
                self.prompt_tokens = event.prompt_tokens
        elif isinstance(event, SegmentEnded):
            self.open_model = None
            if self.prompt_tokens is None and event.index == 0 and event.prompt_tokens:
                self.prompt_tokens = event.prompt_tokens  # a text prompt: the server's count
            if event.prompt_tokens and event.model not in self.prefixes:
                self.prefixes[event.model] = max(event.prompt_tokens - self.kept, 1)
            self.kept += event.tokens
            self.segments.append(
                SegmentShape(
                    model=event.model,
                    stage=event.stage,
                    tokens=event.tokens,
                    decoded=event.tokens + event.discarded_tokens,
                    fed=event.prefill_feeds > 0,
                    early_start=event.early_start,
                )
            )
        elif isinstance(event, Switch):
            self.switches += 1
        elif isinstance(event, RunStarted):
            self.started = event
        self.last_t = max(self.last_t, event.t)

    def shape(self, wall_s: float | None = None) -> TraceShape | None:
        """What is known so far (the open segment with its tokens so far); None before any token."""
        segments = list(self.segments)
        if self.open_model is not None and self.open_tokens:
            tokens = self.open_tokens
            segments.append(SegmentShape(self.open_model, self.open_stage, tokens, tokens, False, False))
        if self.started is None or not any(s.tokens for s in segments):
            return None
        prompt_tokens, estimated = self.prompt_tokens, self.prompt_tokens is None
        if prompt_tokens is None:
            chars = sum(len(m.get("content", "")) for m in self.started.messages)
            prompt_tokens = round(chars / CHARS_PER_TOKEN) + TEMPLATE_TOKENS
        return TraceShape(
            name=self.name,
            mode=self.started.mode,
            profile=self.started.profile,
            prompt_tokens=prompt_tokens,
            prompt_estimated=estimated,
            segments=tuple(segments),
            wall_s=self.last_t if wall_s is None else wall_s,
            switches=self.switches,
            prefix_by_model=dict(self.prefixes),
        )


def shape_of(events: Sequence[RelayEvent], name: str = "trace") -> TraceShape:
    """The shape of a whole, finished trace; anything else is a `ShapeError` that says why."""
    if not any(isinstance(e, RunStarted) for e in events):
        raise ShapeError(f"{name}: no run_started event (not a whole RelayChat trace)")
    end = events[-1]
    if isinstance(end, RunFailed):
        raise ShapeError(
            f"{name}: the run failed ({end.error.kind}: {end.error.message}); nothing to project"
        )
    if not isinstance(end, RunFinished):
        raise ShapeError(f"{name}: the trace stops before the run finished; nothing to project")
    builder = ShapeBuilder(name)
    opened: set[int] = set()
    for event in events:
        if isinstance(event, SegmentStarted):
            opened.add(event.index)
        elif isinstance(event, SegmentEnded) and event.index not in opened:
            raise ShapeError(f"{name}: segment {event.index} ends without starting")
        builder.add(event)
    shape = builder.shape(end.summary.wall_s or end.t)
    if shape is None:
        raise ShapeError(f"{name}: the run wrote no tokens; nothing to project")
    return shape


def load_shape(path: Path | str) -> TraceShape:
    """The shape of a saved trace; every reason it cannot be projected is a `ShapeError`."""
    path = Path(path)
    if path.is_dir():
        raise ShapeError(f"{path} is a folder, not a trace file")
    try:
        events = load_trace(path)
    except TraceError as exc:
        raise ShapeError(str(exc)) from exc
    return shape_of(events, str(path))
