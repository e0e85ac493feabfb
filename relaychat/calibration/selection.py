"""Selection rules applied in code (the reference picked its final lists by hand).

- `mean-se` (the paper's rule): keep a cue when its mean post-cue margin >= global mean + z * SE,
  z = the threshold (1.0 by default).
- `mean-delta`: keep a cue when its mean >= global mean + threshold (an absolute margin gap).
- `all`: keep every cue that occurs often enough (the paper's "all 91 candidates" ablation).
Every rule first requires `min_occurrences` post-cue segments; `mean-se` needs two for an SE at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from relaychat.calibration.stats import CueStats, GlobalStats

Rule = Literal["mean-se", "mean-delta", "all"]
RULES: tuple[Rule, ...] = ("mean-se", "mean-delta", "all")


@dataclass(frozen=True)
class SelectionRule:
    name: Rule = "mean-se"
    threshold: float = 1.0
    min_occurrences: int = 2

    def describe(self) -> str:
        if self.name == "mean-se":
            return f"mean post-cue margin >= global mean + {self.threshold:g} x SE"
        if self.name == "mean-delta":
            return f"mean post-cue margin >= global mean + {self.threshold:g}"
        return "every cue that occurs"

    def bar(self, stats: CueStats, global_mean: float) -> float | None:
        if self.name == "mean-se":
            return None if stats.se is None else global_mean + self.threshold * stats.se
        if self.name == "mean-delta":
            return global_mean + self.threshold
        return None


def apply_rule(rule: SelectionRule, stats: dict[str, CueStats], overall: GlobalStats) -> list[str]:
    """Mark every cue selected or not with the reason; returns the selected cues in input order."""
    minimum = max(rule.min_occurrences, 2 if rule.name == "mean-se" else 1)
    selected: list[str] = []
    for cue, s in stats.items():
        s.bar, s.selected = None, False
        if overall.mean is None:
            s.reason = "no scored tokens at all"
        elif s.occurrences < minimum:
            s.reason = f"too few occurrences ({s.occurrences} < {minimum})"
        elif rule.name == "all":
            s.selected, s.reason = True, "rule `all` keeps every cue that occurs"
        elif (bar := rule.bar(s, overall.mean)) is None or s.mean is None:
            s.reason = "no standard error (occurrences in fewer than two traces)"
        else:
            s.bar = bar
            s.selected = s.mean >= bar
            relation = ">=" if s.selected else "<"
            s.reason = f"mean {s.mean:.4f} {relation} bar {bar:.4f}"
        if s.selected:
            selected.append(cue)
    return selected
