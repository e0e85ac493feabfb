"""Cue-set files: a list of switch cues plus where they came from (calibration writes these).

Format: JSON or TOML with a `cues` list of strings; everything else is metadata (model pair,
template, dataset, seed, rule, per-cue statistics) kept for people and tools, ignored by the relay.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError


class CueSetError(ValueError):
    pass


# Bounds on user-supplied cue sets. Cues are short phrases ("Wait,", "Alternatively"); calibration
# keeps dozens. Every cue goes out as stop strings on every request, so an unbounded file turned into
# minutes of matching and requests of hundreds of MB.
MAX_CUES = 1000
MAX_CUE_CHARS = 200
MAX_FILE_BYTES = 1 << 20


def cue_limit_problem(cues: list[str]) -> str | None:
    """Why `cues` is too big to use, or None."""
    if len(cues) > MAX_CUES:
        return f"{len(cues):,} cues; at most {MAX_CUES:,} are allowed"
    for number, cue in enumerate(cues, 1):
        if isinstance(cue, str) and len(cue) > MAX_CUE_CHARS:
            return (
                f"cue {number} is {len(cue):,} characters long; a cue is a short phrase "
                f"(at most {MAX_CUE_CHARS} characters)"
            )
    return None


class CueSet(BaseModel):
    cues: list[str] = Field(min_length=0)
    name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def load_cue_set(path: str | Path) -> CueSet:
    path = Path(path)
    if not path.is_file():
        raise CueSetError(f"no cue-set file at {path}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CueSetError(f"cannot read {path}: {exc.strerror}") from exc
    if size > MAX_FILE_BYTES:
        raise CueSetError(
            f"{path} is {size / 1e6:.1f} MB; a cue-set file is at most {MAX_FILE_BYTES >> 20} MB "
            f"({MAX_CUES:,} cues of at most {MAX_CUE_CHARS} characters)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CueSetError(f"{path} is not UTF-8 text (bad byte at offset {exc.start})") from exc
    except OSError as exc:
        raise CueSetError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CueSetError(
            f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}"
        ) from exc
    if not isinstance(data, dict) or "cues" not in data:
        raise CueSetError(f"{path} has no `cues` list")
    if isinstance(data["cues"], list) and (problem := cue_limit_problem(data["cues"])):
        raise CueSetError(f"{path}: {problem}")
    meta = {k: v for k, v in data.items() if k not in ("cues", "name")}
    try:
        return CueSet(cues=data["cues"], name=data.get("name") or path.stem, metadata=meta)
    except ValidationError as exc:
        raise CueSetError(f"{path}: `cues` must be a list of strings ({exc})") from exc
