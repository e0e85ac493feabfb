"""Calibration against the planted truth: which selected cues are the generator's easy cues.

A candidate is judged by its word: the bare "Therefore" fires exactly where the planted "Therefore,"
does (the generator writes the word only with its comma), so both count as the planted easy cue.
"""

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
        """Share of the planted easy cues that some selected candidate stands for."""
        return 1 - len(self.missed) / len(EASY_CUES)


def _word(cue: str) -> str:
    return cue.strip().rstrip(",")


def planted_kind(cue: str) -> str:
    """'easy', 'hard' or 'absent' (a candidate whose word the generator never writes)."""
    word = _word(cue)
    if word in {_word(c) for c in EASY_CUES}:
        return "easy"
    return "hard" if word in {_word(c) for c in HARD_CUES} else "absent"


def recovery(selected: list[str] | tuple[str, ...]) -> Recovery:
    chosen = tuple(dict.fromkeys(selected))
    words = {_word(c) for c in chosen}
    return Recovery(
        selected=chosen,
        true_positives=tuple(c for c in chosen if planted_kind(c) == "easy"),
        false_positives=tuple(c for c in chosen if planted_kind(c) != "easy"),
        missed=tuple(c for c in EASY_CUES if _word(c) not in words),
    )
