"""Calibration against the planted truth: which selected cues are the generator's easy cues."""

from __future__ import annotations

from dataclasses import dataclass

from relaychat.tinyqwen.synthetic import EASY_CUES, HARD_CUES


@dataclass(frozen=True)
class Recovery:
    """Precision and recall of a selected cue set against the planted easy cues."""

    selected: tuple[str, ...]
    true_positives: tuple[str, ...]
    false_positives: tuple[str, ...]  # selected but planted hard (or never planted)
    missed: tuple[str, ...]  # planted easy, not selected

    @property
    def precision(self) -> float:
        return len(self.true_positives) / len(self.selected) if self.selected else 0.0

    @property
    def recall(self) -> float:
        return len(self.true_positives) / len(EASY_CUES)


def recovery(selected: list[str] | tuple[str, ...]) -> Recovery:
    chosen = tuple(dict.fromkeys(selected))
    return Recovery(
        selected=chosen,
        true_positives=tuple(c for c in chosen if c in EASY_CUES),
        false_positives=tuple(c for c in chosen if c not in EASY_CUES),
        missed=tuple(c for c in EASY_CUES if c not in chosen),
    )


def planted_kind(cue: str) -> str:
    """ "easy", "hard" or "absent" (a candidate the generator never writes)."""
    return "easy" if cue in EASY_CUES else "hard" if cue in HARD_CUES else "absent"
