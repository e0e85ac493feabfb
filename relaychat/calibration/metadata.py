"""What a calibration depends on and what it did: the identity of saved work and the cue set's metadata.

The identity decides whether saved traces and scores can be reused (selection rule and candidates are
not part of it: re-analysis is free). The metadata goes into `cues.json`, so a cue set says which pair,
templates, data, seeds and limits produced it, how its traces ended and what the run cost.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from relaychat.calibration.pipeline import PipelineResult
from relaychat.calibration.store import file_digest
from relaychat.core.profile import PairProfile


def run_identity(profile: PairProfile, dataset: Path, max_tokens: int, seed: int, k: int) -> dict[str, Any]:
    """Everything the saved traces and scores depend on."""
    return {
        "profile": profile.name,
        "large": profile.large.model_dump(include={"served_name", "bundled", "prompt", "sampling"}),
        "small": profile.small.model_dump(include={"served_name", "bundled", "prompt"}),
        "reasoning_end": profile.reasoning_end,
        "dataset": dataset.stem,
        "dataset_sha256": file_digest(dataset),
        "max_tokens": max_tokens,
        "seed": seed,
        "k": k,
    }


def cue_set_metadata(
    profile: PairProfile,
    dataset: Path,
    problems: int,
    samples: int,
    *,
    seed: int,
    k: int,
    max_tokens: int,
    candidates: list[str],
    result: PipelineResult,
) -> dict[str, Any]:
    """The metadata of a calibrated cue set: the pair and its templates, the data, the settings, how
    the traces ended (and how many were cut to fit the small server's context), and the timing."""
    records = list(result.traces.values())
    scores = list(result.scores.values())
    return {
        "pair": {
            "profile": profile.name,
            "large": records[0].model if records else None,
            "small": scores[0].model if scores else None,
        },
        "template": {"large": profile.large.prompt.template, "small": profile.small.prompt.template},
        # The margins depend on every word of each prompt (a base model's worked examples, too):
        # a profile whose prompt no longer matches its cue set's needs a new calibration.
        "prompt_sha256": {"large": prompt_digest(profile, "large"), "small": prompt_digest(profile, "small")},
        "dataset": {
            "name": dataset.stem,
            "path": str(dataset),
            "sha256": file_digest(dataset),
            "problems": problems,
            "samples": samples,
        },
        "seed": seed,
        "k": k,
        "max_tokens": max_tokens,
        "candidates": candidates,
        "traces": {
            "ended_by": dict(Counter(r.ended_by for r in records)),
            "truncated_for_scoring": sum(1 for s in scores if s.truncated_tokens),
        },
        "timing": {
            "wall_s": round(result.wall_s, 2),
            "trace_s": round(sum(r.wall_s for r in records), 2),
            "score_s": round(sum(s.wall_s for s in scores), 2),
            "resumed_items": result.resumed,
        },
    }


def prompt_digest(profile: PairProfile, role: Literal["large", "small"]) -> str:
    """A short digest of how `role`'s prompt is rendered: template, system text, instruction, markers."""
    text = profile.spec(role).prompt.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()[:16]
