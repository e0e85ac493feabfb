"""One line per saved trace for the F5 picker: the question, the mode, how long, when.

Bare file names told nobody which run was which. Only the first line (the question and mode) and the
last (the summary's token count) are read, so a folder of long traces lists quickly.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

TAIL_BYTES = 256_000  # the finished line holds the whole reasoning: a 32k-token run fits in this
QUESTION_CHARS = 48


def _first_line(path: Path) -> dict[str, object]:
    with path.open("rb") as handle:
        line = handle.readline(TAIL_BYTES)
    try:
        data = json.loads(line)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _last_line(path: Path) -> dict[str, object]:
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - TAIL_BYTES))
        lines = handle.read().rstrip(b"\n").rsplit(b"\n", 1)
    try:
        data = json.loads(lines[-1])
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def trace_label(path: Path) -> str:
    """`question… · relay · 412 tokens · 2026-12-04 13:58` (what is known of it; never raises)."""
    try:
        first, last = _first_line(path), _last_line(path)
        when = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return path.name
    messages = first.get("messages") or []
    question = ""
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        question = " ".join(str(messages[-1].get("content", "")).split())
    if len(question) > QUESTION_CHARS:
        question = question[: QUESTION_CHARS - 1] + "…"
    parts = [repr(question) if question else path.name, str(first.get("mode", "?"))]
    summary = last.get("summary")
    if isinstance(summary, dict):
        tokens = sum(
            int(summary.get(role, {}).get("tokens", 0))
            for role in ("large", "small")
            if isinstance(summary.get(role), dict)
        )
        parts.append(f"{tokens} tokens")
    elif last.get("type") not in ("finished", "failed"):
        parts.append("unfinished")
    parts.append(when)
    return " · ".join(parts)
