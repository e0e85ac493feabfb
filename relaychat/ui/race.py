"""The race's clock and lanes, without Textual: two runs played on one virtual clock.

A lane holds one run's events (paced as measured, or re-timed at a target's projected pace) and what
of it has been shown so far: the text as runs of (text, writer), tokens, and whether it has finished.
Only the tail of the text is ever rendered, so a frame costs the same at token 100 and token 30,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from relaychat.core.events import RelayEvent, RunFailed, RunFinished, RunStarted, StageChanged, TokenDelta

TAIL_CHARS = 6000  # more than two panes of the largest terminal show


@dataclass
class Lane:
    label: str
    events: Sequence[RelayEvent]
    runs: list[tuple[str, str]] = field(default_factory=list)  # (text, "large" | "small" | "marker")
    tokens: int = 0
    next_index: int = 0
    finished_at: float | None = None
    failed: bool = False

    @property
    def end_t(self) -> float:
        return self.events[-1].t if self.events else 0.0

    @property
    def question(self) -> str:
        started = next((e for e in self.events if isinstance(e, RunStarted)), None)
        return started.messages[-1].get("content", "") if started and started.messages else ""

    def advance(self, now: float) -> int:
        """Take every event up to virtual time `now`; returns how many tokens arrived."""
        events, i, arrived = self.events, self.next_index, 0
        while i < len(events) and events[i].t <= now:
            event = events[i]
            if isinstance(event, TokenDelta):
                count = len(event.token_ids) or len(event.margins) or (1 if event.text else 0)
                arrived += count
                self._append(event.text, event.model)
            elif isinstance(event, StageChanged) and event.inserted_text:
                self._append(event.inserted_text, "marker")
            elif isinstance(event, (RunFinished, RunFailed)):
                self.finished_at = event.t
                self.failed = isinstance(event, RunFailed)
            i += 1
        self.next_index = i
        self.tokens += arrived
        if i >= len(events) and self.finished_at is None and events:
            self.finished_at = events[-1].t
        return arrived

    def _append(self, text: str, writer: str) -> None:
        if self.runs and self.runs[-1][1] == writer:
            self.runs[-1] = (self.runs[-1][0] + text, writer)
        else:
            self.runs.append((text, writer))
        if len(self.runs) > 400:  # keep the list short: the oldest runs are far out of view
            self.runs = self.runs[-200:]

    def tail(self, chars: int = TAIL_CHARS) -> list[tuple[str, str]]:
        """The last `chars` characters, as runs, oldest first."""
        out: list[tuple[str, str]] = []
        left = chars
        for text, writer in reversed(self.runs):
            if left <= 0:
                break
            piece = text[-left:]
            out.append((piece, writer))
            left -= len(piece)
        out.reverse()
        return out

    def tail_rows(self, width: int, rows: int) -> list[tuple[str, str]]:
        """The tail that fits `rows` rows of `width` columns (word wrap is assumed to waste up to a
        sixth of a row), so the newest text is always on screen."""
        width = max(int(width * 5 / 6), 8)
        runs = self.tail(width * rows)
        text = "".join(piece for piece, _ in runs)
        keep, used = 0, 0
        for line in reversed(text.split("\n")):
            need = max(-(-len(line) // width), 1)
            if used + need > rows:
                keep += min(len(line), (rows - used) * width)
                break
            used += need
            keep += len(line) + 1
        return self.tail(min(keep, len(text)))

    def reset(self) -> None:
        self.runs, self.tokens, self.next_index, self.finished_at, self.failed = [], 0, 0, None, False


@dataclass
class Race:
    relay: Lane
    alone: Lane
    pace: str  # "as measured" or "projected on <target>"
    now: float = 0.0
    speed: float = 1.0
    paused: bool = False

    @property
    def lanes(self) -> tuple[Lane, Lane]:
        return (self.relay, self.alone)

    @property
    def done(self) -> bool:
        return all(lane.finished_at is not None for lane in self.lanes)

    def tick(self, dt: float) -> int:
        """Advance the clock by `dt` wall seconds (times the speed); returns tokens that arrived."""
        if self.paused or self.done:
            return 0
        self.now += dt * self.speed
        return sum(lane.advance(self.now) for lane in self.lanes)

    def restart(self) -> None:
        self.now = 0.0
        for lane in self.lanes:
            lane.reset()

    def verdict(self) -> str | None:
        """Who won, by how much; None until both finished."""
        a, b = self.relay.finished_at, self.alone.finished_at
        if a is None or b is None or a <= 0:
            return None
        return f"relay {b / a:.2f}× faster" if a < b else f"large alone {a / b:.2f}× faster"
