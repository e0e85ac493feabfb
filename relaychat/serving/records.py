"""The records RelayChat keeps of the servers it started, for other processes (one file per port).

`<cache>/servers/<port>.json` says who started the server on a port (pid, owner pid, role, model) and,
once measured, its serving setup (`SetupRecord`: dtype, block size, measured costs and why). The
watchdog, `relaychat serve --status`, the next start, and a chat app or `bench` run in another
terminal read them. Within one process typed values are passed in memory; these files are only the
way to tell another process. A record whose server process is gone is stale and ignored.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, Field, ValidationError

from relaychat.core.events import Role
from relaychat.paths import cache_dir
from relaychat.serving.costs import ServerCosts


class SetupRecord(BaseModel):
    """What setup a running server was started with (vLLM does not report its dtype), and its costs."""

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


class ServerSetup(BaseModel):
    """One server's setup as a `bench` result records it (also servers RelayChat did not start)."""

    model: str
    dtype: str  # "unknown" for a server RelayChat did not start
    block_size: int | None = None
    source: str = ""
    reason: str = ""
    costs: ServerCosts | None = None


class ServersSetup(BaseModel):
    """The machine and both servers a `bench` result was measured on (its JSON's `meta.setup`)."""

    cpu: dict[str, Any] = Field(default_factory=dict)
    servers: dict[str, ServerSetup] = Field(default_factory=dict)
    feed_every: int | None = None  # the relay's feed cadence in this run (None: the default)
    relay_tuning: dict[str, int | None] = Field(default_factory=dict)  # feed_every, max_feed_tokens

    def costs(self) -> dict[Role, ServerCosts]:
        """The measured costs by role (servers without costs left out)."""
        found: dict[Role, ServerCosts] = {}
        for role in ("large", "small"):
            server = self.servers.get(role)
            if server is not None and server.costs is not None:
                found[role] = server.costs
        return found


@dataclass
class ServerRecord:
    """Who started the server on a port, and when; its setup once measured."""

    port: int
    pid: int
    owner_pid: int
    role: str
    name: str
    url: str
    started_at: float
    setup: SetupRecord | None = None

    @property
    def owner_alive(self) -> bool:
        return pid_alive(self.owner_pid)

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid)

    def to_json(self) -> str:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["setup"] = self.setup.model_dump(mode="json") if self.setup is not None else None
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> ServerRecord:
        """Raises ValueError or TypeError on a malformed record; an unreadable setup is dropped."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a server record is a JSON object")
        setup = data.pop("setup", None)
        try:
            parsed = SetupRecord.model_validate(setup) if setup is not None else None
        except ValidationError:
            parsed = None
        return cls(**data, setup=parsed)


def records_dir() -> Path:
    return cache_dir() / "servers"


def record_path(port: int) -> Path:
    return records_dir() / f"{port}.json"


def write_record(record: ServerRecord) -> None:
    records_dir().mkdir(parents=True, exist_ok=True)
    record_path(record.port).write_text(record.to_json() + "\n", encoding="utf-8")


def read_record(port: int) -> ServerRecord | None:
    try:
        return ServerRecord.from_json(record_path(port).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None


def all_records() -> list[ServerRecord]:
    if not records_dir().is_dir():
        return []
    found = [read_record(int(p.stem)) for p in records_dir().glob("*.json") if p.stem.isdigit()]
    return sorted((r for r in found if r is not None), key=lambda r: r.port)


def forget(port: int, pid: int | None = None) -> None:
    """Remove a port's record (only if it still describes `pid`, when given)."""
    record = read_record(port)
    if record is not None and (pid is None or record.pid == pid):
        record_path(port).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True for a running process (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


# -- the setup part, by the server's URL ------------------------------------------------------------


def _port(url: str) -> int:
    return urlparse(url).port or 80


def write_setup(setup: SetupRecord, role: str = "") -> None:
    """Add the setup to the server's record (written at its start; made here if there is none)."""
    port = _port(setup.url)
    server = read_record(port)
    if server is None or server.pid != setup.pid:
        server = ServerRecord(
            port=port,
            pid=setup.pid,
            owner_pid=os.getpid(),
            role=role,
            name=setup.model,
            url=setup.url,
            started_at=time.time(),
        )
    server.setup = setup
    write_record(server)


def remove_setup(url: str, pid: int) -> None:
    """Remove the record of `url` if it still describes the process `pid`."""
    forget(_port(url), pid)


def read_setup(url: str, check_alive: bool = True) -> SetupRecord | None:
    """The setup of the server RelayChat started at `url`; None if none is recorded, or it is gone."""
    server = read_record(_port(url))
    if server is None or server.setup is None:
        return None
    if check_alive and not pid_alive(server.setup.pid):
        return None
    return server.setup
