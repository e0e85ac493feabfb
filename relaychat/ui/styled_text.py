"""Reasoning text as runs of one writer, appended at the end, with cue ranges marked afterwards.

A cue is only known once the large model's segment has been cut (the `cue_hit` event comes after
its tokens), so cue marking splits runs that are already there. Both the live transcript (one
`StyledText` per display block) and the exports (one per turn) use this, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relaychat.core.events import Role


@dataclass
class Run:
    """Consecutive text with one style. `role` None = text the relay inserted (a marker)."""

    role: Role | None
    parts: list[str] = field(default_factory=list)
    cue: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)


class StyledText:
    def __init__(self, start: int = 0) -> None:
        self.start = start  # offset of the first character in the whole reasoning text
        self.runs: list[Run] = []
        self.length = 0

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def text(self) -> str:
        return "".join(run.text for run in self.runs)

    def append(self, text: str, role: Role | None) -> None:
        if not text:
            return
        last = self.runs[-1] if self.runs else None
        if last is not None and last.role == role and not last.cue:
            last.parts.append(text)
        else:
            self.runs.append(Run(role, [text]))
        self.length += len(text)

    def extend(self, other: StyledText, lead: str) -> None:
        """Append `other`, which starts right after `lead` (the separator between the two)."""
        first = other.runs[0].role if other.runs else None
        self.append(lead, first)
        for run in other.runs:
            if run.cue:
                self.runs.append(Run(run.role, [run.text], cue=True))
                self.length += len(run.text)
            else:
                self.append(run.text, run.role)

    def mark_cue(self, start: int, end: int) -> bool:
        """Mark [start, end) (offsets in the whole reasoning text) as a cue; False if out of range."""
        lo, hi = max(start, self.start) - self.start, min(end, self.end) - self.start
        if lo >= hi:
            return False
        runs: list[Run] = []
        position = 0
        for run in self.runs:
            text = run.text
            a, b = position, position + len(text)
            position = b
            if b <= lo or a >= hi or run.cue:
                runs.append(run)
                continue
            cut_lo, cut_hi = max(lo, a) - a, min(hi, b) - a
            for piece, cue in ((text[:cut_lo], False), (text[cut_lo:cut_hi], True), (text[cut_hi:], False)):
                if piece:
                    runs.append(Run(run.role, [piece], cue))
        self.runs = runs
        return True
