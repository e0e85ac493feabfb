"""What setup a running server was started with, for whoever talks to it later (TUI, bench).

vLLM does not report its dtype, and servers started by `relaychat serve` in one terminal are used by
the chat app or `bench` in another. So the setup goes into the server's one record, the one the
starter writes for the watchdog (`<cache>/servers/<port>.json`, `serving.watchdog`). A record whose
server process is gone is stale and ignored.
"""

from __future__ import annotations

import os
import time
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, Field, ValidationError

from relaychat.serving import watchdog
from relaychat.serving.costs import ServerCosts


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


def _port(url: str) -> int:
    return urlparse(url).port or 80


def write_record(record: SetupRecord, role: str = "") -> None:
    """Add the setup to the server's record (written at its start; made here if there is none)."""
    port = _port(record.url)
    server = watchdog.read_record(port)
    if server is None or server.pid != record.pid:
        server = watchdog.ServerRecord(
            port=port,
            pid=record.pid,
            owner_pid=os.getpid(),
            role=role,
            name=record.model,
            url=record.url,
            started_at=time.time(),
        )
    server.setup = record.model_dump()
    watchdog.write_record(server)


def remove_record(url: str, pid: int) -> None:
    """Remove the record of `url` if it still describes the process `pid`."""
    watchdog.forget(_port(url), pid)


def read_record(url: str, check_alive: bool = True) -> SetupRecord | None:
    server = watchdog.read_record(_port(url))
    if server is None or server.setup is None:
        return None
    try:
        record = SetupRecord.model_validate(server.setup)
    except ValidationError:
        return None
    if check_alive and not watchdog.pid_alive(record.pid):
        return None
    return record
