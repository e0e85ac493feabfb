"""One local vLLM server RelayChat starts: its role, model spec, setup, process and measured costs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from relaychat.core.events import Role
from relaychat.core.profile import ModelSpec
from relaychat.serving.costs import ServerCosts


@dataclass
class Server:
    role: Role
    spec: ModelSpec
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    dtype: str = "bfloat16"
    block_size: int = 32  # the CPU default (128) reused only 896 of 1000 cached prompt tokens; 32 reused 992
    env: dict[str, str] = field(default_factory=dict)  # extra environment, e.g. a stop-string cap
    watchdog_fd: int | None = None  # held open while the server should live (see serving/watchdog.py)
    costs: ServerCosts | None = None  # measured after its start (`setup_plan.after_start`), in memory

    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def port(self) -> int:
        return self.spec.port or urlparse(self.spec.url).port or 8000

    @property
    def name(self) -> str:
        return self.spec.served_name or self.spec.bundled or self.role
