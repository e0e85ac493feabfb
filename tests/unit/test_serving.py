"""How the CPU servers are launched: pinning, spin limits, environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from relaychat.serving import manager


def test_a_pinned_child_runs_on_its_core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYCHAT_PIN_SERVERS", raising=False)
    core = max(os.sched_getaffinity(0))
    pin = manager._pinned_to(core)
    assert pin is not None
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        preexec_fn=pin,
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == f"[{core}]"


def test_pinning_can_be_turned_off_and_never_targets_a_missing_core(monkeypatch: pytest.MonkeyPatch) -> None:
    assert manager._pinned_to(None) is None
    assert manager._pinned_to(10_000) is None  # not one of this machine's cores
    monkeypatch.setenv("RELAYCHAT_PIN_SERVERS", "0")
    assert manager._pinned_to(0) is None


def test_server_env_binds_the_worker_and_raises_the_stop_cap() -> None:
    env = manager.server_env(1)
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "1"
    assert int(env["VLLM_MAX_STOP_STRINGS"]) >= 250  # the boundary-encoded paper cue set


def test_the_launcher_limits_vllms_idle_spin_in_every_process() -> None:
    # The launcher module configures at import, which is what vLLM's spawned processes do too.
    code = (
        "import relaychat.serving.vllm_main\n"
        "from vllm.distributed.device_communicators import shm_broadcast as s\n"
        "print(s.SHM_READER_RECHECK_INTERVAL_MS, s.SpinCondition._relaychat_patched)\n"
    )
    pytest.importorskip("vllm")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split()[-2:] == ["1", "True"]
