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


class CueSet(BaseModel):
    cues: list[str] = Field(min_length=0)
    name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def load_cue_set(path: str | Path) -> CueSet:
    path = Path(path)
    if not path.is_file():
        raise CueSetError(f"no cue-set file at {path}")
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
    meta = {k: v for k, v in data.items() if k not in ("cues", "name")}
    try:
        return CueSet(cues=data["cues"], name=data.get("name") or path.stem, metadata=meta)
    except ValidationError as exc:
        raise CueSetError(f"{path}: `cues` must be a list of strings ({exc})") from exc
