"""Resumable on-disk state: append-only JSONL logs and a manifest that guards against mixing runs.

Every finished item is one line, written and fsynced as soon as it is done, so a crash or Ctrl-C
loses at most the items in flight. A torn last line (killed mid-write) is ignored on load and that
item is simply redone.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class StateError(ValueError):
    pass


class JsonlLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.is_file():
            return
        lines = self.path.read_bytes().splitlines()
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                yield json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise StateError(f"{self.path}:{number} is not UTF-8 text ({exc.reason})") from exc
            except json.JSONDecodeError as exc:
                if number == len(lines):
                    return  # torn final line: that item is redone
                raise StateError(
                    f"{self.path}:{number} is corrupt ({exc}); delete the line to go on"
                ) from exc

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":  # a torn line (killed mid-write): cut it off
                    handle.seek(0)
                    handle.truncate(handle.read().rfind(b"\n") + 1)
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def check_manifest(path: Path, identity: dict[str, Any]) -> None:
    """Create the manifest, or make sure the saved work was made with the same settings."""
    if not path.is_file():
        write_json_atomic(path, {"identity": identity})
        return
    try:
        saved = json.loads(path.read_text(encoding="utf-8")).get("identity", {})
    except json.JSONDecodeError as exc:
        raise StateError(f"{path} is not valid JSON: {exc}") from exc
    changed = [k for k in sorted(set(saved) | set(identity)) if saved.get(k) != identity.get(k)]
    if changed:
        details = "; ".join(f"{k}: saved {saved.get(k)!r}, now {identity.get(k)!r}" for k in changed[:4])
        raise StateError(
            f"{path.parent} holds a calibration made with other settings ({details}); "
            "use another --out directory to start a new one"
        )
