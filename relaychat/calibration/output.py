"""The cue-set file calibration writes: the selected `cues` plus everything needed to trust them.

`load_cue_set` (and so `relaychat run --cues FILE`, profiles and the TUI) reads only `cues` and
`name`; the rest is metadata: model pair, templates, dataset, seed, k, the rule and its threshold,
the global mean, and the statistics of every candidate, dropped ones included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relaychat.calibration.analysis import Analysis
from relaychat.calibration.store import write_json_atomic

FORMAT_VERSION = 1


def build_cue_set(name: str, analysis: Analysis, metadata: dict[str, Any]) -> dict[str, Any]:
    rule = analysis.rule
    return {
        "name": name,
        "cues": analysis.selected,
        "format": f"relaychat-cue-set/{FORMAT_VERSION}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **metadata,
        "rule": {
            "name": rule.name,
            "description": rule.describe(),
            "threshold": rule.threshold,
            "min_occurrences": rule.min_occurrences,
            "standard_error": analysis.se_method,
            "bootstrap_rounds": analysis.bootstrap_rounds or None,
        },
        "global": {
            "mean_margin": analysis.overall.mean,
            "tokens": analysis.overall.tokens,
            "traces": analysis.overall.traces,
        },
        "statistics": {cue: s.as_dict() for cue, s in analysis.stats.items()},
    }


def write_cue_set(path: Path, data: dict[str, Any]) -> Path:
    write_json_atomic(path, data)
    return path
