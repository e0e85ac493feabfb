"""What setup a running server was started with, for whoever talks to it later (TUI, bench).

vLLM does not report its dtype, and servers started by `relaychat serve` in one terminal are used by
the chat app or `bench` in another, so the process that starts a server writes a small JSON record
next to the caches, keyed by host and port. A record whose process is gone is stale and ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, Field, ValidationError

from relaychat.paths import cache_dir
from relaychat.serving.costs import ServerCosts
from relaychat.serving.watchdog import pid_alive


class SetupRecord(BaseModel):
    url: str
    pid: int
    model: str
    dtype: str
    block_size: int
    reason: str = ""
    why: str = ""
    cpu: dict[str, Any] = Field(default_factory=dict)
    costs: ServerCosts | None = None
    choice: dict[str, Any] = Field(default_factory=dict)

    def summary(self) -> str:
        short = {"bfloat16": "bf16", "float32": "fp32"}.get(self.dtype, self.dtype)
        return f"{short}, block {self.block_size}"


def records_dir() -> Path:
    return cache_dir() / "servers"


def record_path(url: str) -> Path:
    parsed = urlparse(url)
    return records_dir() / f"{parsed.hostname or 'localhost'}_{parsed.port or 80}.json"


def write_record(record: SetupRecord) -> Path:
    path = record_path(record.url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.model_dump(), indent=2) + "\n", encoding="utf-8")
    return path


def remove_record(url: str, pid: int) -> None:
    """Remove the record of `url` if it still describes the process `pid`."""
    record = read_record(url, check_alive=False)
    if record is not None and record.pid == pid:
        record_path(url).unlink(missing_ok=True)


def read_record(url: str, check_alive: bool = True) -> SetupRecord | None:
    try:
        record = SetupRecord.model_validate_json(record_path(url).read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return None
    if check_alive and not pid_alive(record.pid):
        return None
    return record
