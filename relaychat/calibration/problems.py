"""Calibration problems: a named benchmark file from a data directory, or any JSONL path.

Kept minimal on purpose (question text and an id): calibration needs no answers or grading.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

QUESTION_FIELDS = ("problem", "question", "Question")
ID_FIELDS = ("id", "problem_idx", "unique_id")


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class Problem:
    id: str
    question: str


def resolve_data_dir(explicit: str | Path | None = None, configured: str | None = None) -> Path | None:
    """--data, then settings.data, then $RELAYCHAT_DATA, then ../shared/data from the working directory."""
    for candidate in (explicit, configured, os.environ.get("RELAYCHAT_DATA")):
        if candidate:
            return Path(candidate).expanduser()
    default = Path.cwd().parent / "shared" / "data"
    return default if default.is_dir() else None


def dataset_path(name_or_path: str, data_dir: Path | None) -> Path:
    """`amc23` -> DATA/amc23.jsonl; a path to a file is used as it is."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".jsonl" or path.is_file():
        if not path.is_file():
            raise DatasetError(f"no dataset file at {path}")
        return path
    if data_dir is None:
        raise DatasetError(
            f"dataset {name_or_path!r} needs a data directory: pass --data DIR, set RELAYCHAT_DATA, "
            "or give the path of a .jsonl file"
        )
    found = data_dir / f"{name_or_path}.jsonl"
    if not found.is_file():
        names = ", ".join(sorted(p.stem for p in data_dir.glob("*.jsonl"))) or "none"
        raise DatasetError(f"no dataset {name_or_path!r} in {data_dir} (found: {names})")
    return found


def load_problems(path: Path, limit: int | None = None) -> list[Problem]:
    """The first `limit` problems of a JSONL file with a problem/question field per line."""
    problems: list[Problem] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number} is not JSON: {exc}") from exc
            question = next((record[f] for f in QUESTION_FIELDS if isinstance(record.get(f), str)), None)
            if not question:
                raise DatasetError(f"{path}:{number} has none of the fields {', '.join(QUESTION_FIELDS)}")
            ident = next((record[f] for f in ID_FIELDS if record.get(f) is not None), len(problems))
            problems.append(Problem(id=str(ident), question=question))
            if limit is not None and len(problems) >= limit:
                break
    if not problems:
        raise DatasetError(f"{path} holds no problems")
    return problems
