"""A stand-in for the chat app that auto-starts its servers: `running_servers` with fake vLLM servers.

Used by the reliability tests to check that servers RelayChat starts stop when it dies (SIGHUP from a
closed terminal, SIGTERM, SIGKILL), without starting real vLLM servers: the server command is
replaced by `tests.fakes.fault_server` and model conversion by a no-op, everything else is the real
`serving.manager`. Prints `ready <pid> <pid>` (the server pids) once both answer, then waits.

    python -m tests.fakes.app_with_servers PROFILE.toml
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from relaychat.core.profile import load_profile
from relaychat.serving import manager


def fake_command(server: manager.Server, model_dir: Path, max_model_len: int = 4096) -> list[str]:
    """A fault server in place of vLLM; FAKE_SERVER_ARGS adds options (e.g. `--hold-port --ignore-term`:
    a server still loading, which holds its port, never answers and ignores SIGTERM)."""
    extra = os.environ.get("FAKE_SERVER_ARGS", "").split()
    return [sys.executable, "-m", "tests.fakes.fault_server", "--port", str(server.port), *extra]


def main() -> None:
    manager.server_command = fake_command  # type: ignore[assignment]
    manager.ensure_model = lambda *a, **k: Path(".")  # type: ignore[assignment]
    profile = load_profile(sys.argv[1])
    with manager.running_servers(
        profile, lambda m, f: None, timeout=60, log=lambda m: print(m, flush=True)
    ) as servers:
        pids = " ".join(str(s.process.pid) for s in servers if s.process)
        print(f"ready {pids}", flush=True)
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
