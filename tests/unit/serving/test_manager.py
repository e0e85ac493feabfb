"""How the CPU servers are launched: pinning, spin limits, environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from relaychat.serving import manager


def test_a_pinned_server_and_what_it_starts_run_on_its_core_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAYCHAT_PIN_SERVERS", raising=False)
    core = max(os.sched_getaffinity(0))
    # The child starts a grandchild after a moment, as vLLM starts its engine after its imports.
    code = (
        "import os, subprocess, sys, time; time.sleep(0.5); "
        "print(subprocess.run([sys.executable, '-c', 'import os; print(sorted(os.sched_getaffinity(0)))'], "
        "capture_output=True, text=True).stdout.strip())"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert manager.pin(child.pid, core)
    out, _ = child.communicate(timeout=30)
    assert out.strip() == f"[{core}]"


def test_pinning_can_be_turned_off_and_never_targets_a_missing_core(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not manager.pin(os.getpid(), None)
    assert not manager.pin(os.getpid(), 10_000)  # not one of this machine's cores
    monkeypatch.setenv("RELAYCHAT_PIN_SERVERS", "0")
    assert not manager.pin(os.getpid(), 0)


def test_server_env_binds_the_worker_and_raises_the_stop_cap() -> None:
    env = manager.server_env(1)
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "1"
    assert int(env["VLLM_MAX_STOP_STRINGS"]) >= 250  # the boundary-encoded paper cue set


def test_the_launcher_limits_vllms_idle_spin_and_sorting_in_every_process() -> None:
    # The launcher module configures at import, which is what vLLM's spawned processes do too.
    code = (
        "import relaychat.serving.vllm_main\n"
        "from vllm.distributed.device_communicators import shm_broadcast as s\n"
        "from vllm.v1.sample.ops import topk_topp_sampler as t\n"
        "print(s.SHM_READER_RECHECK_INTERVAL_MS, s.SpinCondition._relaychat_patched,\n"
        "      getattr(t.apply_top_k_top_p_pytorch, '_relaychat_patched', False))\n"
    )
    pytest.importorskip("vllm")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split()[-3:] == ["1", "True", "True"]


def test_warm_up_of_a_server_that_does_not_answer_is_not_an_error() -> None:
    from relaychat.core.profile import load_profile

    spec = load_profile("cpu-demo").small.model_copy(update={"urls": ["http://127.0.0.1:9"]})
    assert manager.warm_up(manager.Server("small", spec), timeout=2.0) is False
