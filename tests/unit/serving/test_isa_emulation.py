"""Forcing another CPU class's features also makes the servers run that class's code, and only then."""

from __future__ import annotations

import sys
import types

import pytest

from relaychat.serving import isa

ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16", "fma"})
AVX2_BOX = frozenset({"avx2", "fma", "f16c"})


def test_forcing_avx2_on_an_avx512_machine_runs_the_avx2_code() -> None:
    assert isa.emulated_isa("avx2 fma f16c", ZEN4) == "avx2"
    env = isa.emulation_env("avx2")
    assert env == {
        "RELAYCHAT_EMULATE_ISA": "avx2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
    }


def test_forcing_avx512_without_bf16_drops_only_the_bf16_instructions() -> None:
    assert isa.emulated_isa("avx2,avx512f", ZEN4) == "avx512"
    assert isa.emulation_env("avx512")["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE"


@pytest.mark.parametrize(
    ("forced", "real"),
    [
        (None, ZEN4),  # nothing forced
        ("avx2 avx512f avx512_bf16", ZEN4),  # the machine's own class
        ("avx2", AVX2_BOX),  # already that class: nothing to emulate
        ("avx512f avx512_bf16", AVX2_BOX),  # a class the machine cannot run
        ("", ZEN4),  # no vector features at all: no such build to emulate
    ],
)
def test_no_emulation_where_there_is_nothing_smaller_to_run(forced: str | None, real: frozenset[str]) -> None:
    assert isa.emulated_isa(forced, real) is None
    assert isa.emulation_env(None) == {}


def test_apply_answers_torchs_cpu_checks_as_the_emulated_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cpu = types.SimpleNamespace(
        _is_amx_tile_supported=lambda: True,
        _is_avx512_bf16_supported=lambda: True,
        _is_avx512_supported=lambda: True,
    )
    fake_torch = types.ModuleType("torch")
    fake_torch.cpu = fake_cpu  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setitem(sys.modules, "torch.cpu", fake_cpu)  # type: ignore[arg-type]
    assert isa.apply({}) is None
    assert fake_cpu._is_avx512_supported() is True
    assert isa.apply({"RELAYCHAT_EMULATE_ISA": "avx512"}) == "avx512"
    assert (fake_cpu._is_avx512_bf16_supported(), fake_cpu._is_avx512_supported()) == (False, True)
    assert isa.apply({"RELAYCHAT_EMULATE_ISA": "avx2"}) == "avx2"
    assert fake_cpu._is_avx512_supported() is False
    assert fake_cpu._is_amx_tile_supported() is False


def test_servers_of_an_emulated_class_get_its_environment_and_a_compile_cache_of_their_own(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from relaychat.serving import manager

    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path))
    monkeypatch.setattr(manager, "emulated_class", lambda: "avx2")
    env = manager.server_env(core=None)
    assert env["RELAYCHAT_EMULATE_ISA"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["VLLM_CACHE_ROOT"].endswith("emulated-avx2/vllm")  # graphs compiled natively gave NaNs
    assert env["TMPDIR"] == f"{tmp_path}/tmp"
    monkeypatch.setattr(manager, "emulated_class", lambda: None)
    native = manager.server_env(core=None)
    assert "RELAYCHAT_EMULATE_ISA" not in native and native["VLLM_CACHE_ROOT"] == f"{tmp_path}/vllm"
