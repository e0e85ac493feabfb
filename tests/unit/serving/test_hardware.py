"""Reading the CPU: model, the features the serving setup depends on, and a machine key for caches."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaychat.serving.hardware import CpuInfo, parse_cpuinfo, read_cpu

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512_bf16 avx512vl
processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512_bf16 avx512vl
"""
AVX2_ONLY = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx avx2 fma f16c\n"
SAPPHIRE = "model name\t: Intel Xeon 8480\nflags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nCPU implementer\t: 0x41\n"


def test_the_features_that_decide_bf16_speed_are_read_from_cpuinfo() -> None:
    zen4 = parse_cpuinfo(ZEN4, cores=2)
    assert (zen4.model, zen4.cores) == ("AMD EPYC 9R14", 2)
    assert zen4.avx2 and zen4.avx512f and zen4.avx512_bf16 and not zen4.amx_bf16
    assert zen4.native_bf16 and zen4.cpu_class == "avx512-bf16"
    assert zen4.features() == ["avx2", "avx512f", "avx512_bf16"]
    avx2 = parse_cpuinfo(AVX2_ONLY, cores=2)
    assert avx2.avx2 and not avx2.avx512f and not avx2.native_bf16 and avx2.cpu_class == "avx2"
    assert parse_cpuinfo(SAPPHIRE, cores=8).cpu_class == "amx"


def test_a_cpu_without_x86_flags_has_no_features_and_an_unknown_class() -> None:
    arm = parse_cpuinfo(ARM, cores=4)
    assert arm.model == "unknown CPU" and arm.cpu_class == "unknown" and arm.features() == []
    assert "no AVX2/AVX-512 flags" in arm.describe()


def test_the_machine_key_changes_with_the_features_and_cores_but_not_with_other_flags() -> None:
    base = parse_cpuinfo(ZEN4, cores=2)
    noisy = parse_cpuinfo(ZEN4.replace("fpu ", "fpu sse4_1 hypervisor "), cores=2)
    assert base.key == noisy.key
    assert base.key != parse_cpuinfo(ZEN4, cores=4).key
    assert base.key != parse_cpuinfo(ZEN4.replace(" avx512_bf16", ""), cores=2).key
    assert base.key.startswith("avx512-bf16-")


def test_no_cpuinfo_degrades_to_the_model_only(tmp_path: Path) -> None:
    cpu = read_cpu(tmp_path / "missing")
    assert isinstance(cpu, CpuInfo) and cpu.features() == [] and cpu.cores >= 1
    assert cpu.as_dict()["class"] == "unknown"


def test_the_features_can_be_forced_to_try_another_cpu_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(ZEN4, encoding="utf-8")
    real = read_cpu(info)
    monkeypatch.setenv("RELAYCHAT_CPU_FLAGS", "avx2,fma")
    forced = read_cpu(info)
    assert forced.cpu_class == "avx2" and not forced.native_bf16
    assert forced.key != real.key and forced.cores == real.cores
    assert "AVX2 code emulated by RELAYCHAT_CPU_FLAGS" in forced.model  # the servers run AVX2 code too
    monkeypatch.setenv("RELAYCHAT_CPU_FLAGS", "avx2 avx512f avx512_bf16")
    assert "features forced by RELAYCHAT_CPU_FLAGS" in read_cpu(info).model  # nothing smaller to run
