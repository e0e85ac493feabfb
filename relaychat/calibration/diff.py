"""Compare two cue sets: which cues moved in or out, what changed in how they were made, and how
each shared or differing cue scored in each (when the files carry calibration statistics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relaychat.core.cueset import CueSet

COMPARED_METADATA = ("pair", "template", "dataset", "seed", "k", "max_tokens", "rule", "global")


@dataclass
class CueRow:
    cue: str
    in_a: bool
    in_b: bool
    stats_a: dict[str, Any] = field(default_factory=dict)
    stats_b: dict[str, Any] = field(default_factory=dict)


@dataclass
class CueSetDiff:
    only_a: list[str]
    only_b: list[str]
    both: list[str]
    rows: list[CueRow]
    metadata: list[tuple[str, Any, Any]]  # (dotted key, value in A, value in B) where they differ

    @property
    def identical(self) -> bool:
        return not self.only_a and not self.only_b

    def as_dict(self) -> dict[str, Any]:
        return {
            "only_a": self.only_a,
            "only_b": self.only_b,
            "both": self.both,
            "metadata": [{"key": k, "a": a, "b": b} for k, a, b in self.metadata],
            "cues": {
                r.cue: {"in_a": r.in_a, "in_b": r.in_b, "a": r.stats_a, "b": r.stats_b} for r in self.rows
            },
        }


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return out
    return {prefix: value}


def diff_cue_sets(a: CueSet, b: CueSet) -> CueSetDiff:
    set_a, set_b = set(a.cues), set(b.cues)
    stats_a: dict[str, Any] = a.metadata.get("statistics") or {}
    stats_b: dict[str, Any] = b.metadata.get("statistics") or {}
    ordered = list(dict.fromkeys([*a.cues, *b.cues, *stats_a, *stats_b]))
    rows = [
        CueRow(cue, cue in set_a, cue in set_b, stats_a.get(cue, {}), stats_b.get(cue, {}))
        for cue in ordered
        if cue in set_a or cue in set_b
    ]
    meta_a = _flatten("", {k: a.metadata.get(k) for k in COMPARED_METADATA if k in a.metadata})
    meta_b = _flatten("", {k: b.metadata.get(k) for k in COMPARED_METADATA if k in b.metadata})
    changed = [
        (k, meta_a.get(k), meta_b.get(k))
        for k in sorted(set(meta_a) | set(meta_b))
        if meta_a.get(k) != meta_b.get(k)
    ]
    return CueSetDiff(
        only_a=[c for c in a.cues if c not in set_b],
        only_b=[c for c in b.cues if c not in set_a],
        both=[c for c in a.cues if c in set_b],
        rows=rows,
        metadata=changed,
    )
