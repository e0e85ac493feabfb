"""The cost probe recovers prefill, decode and the cached floor from a server's timings; costs are cached."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaychat.backends.transport import MemoryTransport, Sent
from relaychat.backends.vllm_client import VLLMClient
from relaychat.core.profile import Sampling
from relaychat.serving import cost_probe
from relaychat.serving.cost_probe import CostProbe, ProbeError, ProbePlan, served_block_size
from relaychat.serving.costs import ServerCosts, costs_path, load_costs, save_costs

MODELS = json.dumps({"data": [{"id": "m"}]}).encode()


class FakeServer:
    """A prefix-caching server on a fake clock: TTFT = request + uncached tokens x prefill."""

    def __init__(self, prefill_ms: float, decode_ms: float, request_ms: float, block: int = 32) -> None:
        self.prefill, self.decode, self.request, self.block = (
            prefill_ms / 1000,
            decode_ms / 1000,
            request_ms / 1000,
            block,
        )
        self.now = 0.0
        self.cached: set[tuple[int, ...]] = set()
        self.bodies: list[dict[str, object]] = []

    def clock(self) -> float:
        return self.now

    def handle(self, request: Sent) -> tuple[int, bytes | Iterator[bytes]]:
        if request.path == "/v1/models":
            return 200, MODELS
        body = request.json()
        if request.path == "/tokenize":
            return 200, json.dumps({"tokens": [zlib.crc32(body["prompt"].encode()), *range(1, 400)]}).encode()
        self.bodies.append(body)
        ids: list[int] = body["prompt"]
        cached = max((n for n in range(0, len(ids), self.block) if tuple(ids[:n]) in self.cached), default=0)
        cached = min(cached, len(ids) - 1)  # the last token is always computed
        for n in range(self.block, len(ids) + 1, self.block):
            self.cached.add(tuple(ids[:n]))
        ttft = self.request + (len(ids) - cached) * self.prefill
        return 200, self._chunks(ttft, int(body["max_tokens"]))

    def _chunks(self, ttft: float, tokens: int) -> Iterator[bytes]:
        for i in range(tokens):
            self.now += ttft if i == 0 else self.decode
            finish = "length" if i == tokens - 1 else None
            yield f"data: {json.dumps({'choices': [{'text': 'x', 'finish_reason': finish}]})}\n\n".encode()
        yield f"data: {json.dumps({'choices': [], 'usage': {'completion_tokens': tokens}})}\n\n".encode()
        yield b"data: [DONE]\n\n"


def probe_of(server: FakeServer) -> CostProbe:
    transport = MemoryTransport(server.handle, url="http://fake")
    return CostProbe(
        "http://fake", "m", Sampling(temperature=0.6, top_p=0.95, top_k=20), transport, server.clock
    )


@pytest.mark.parametrize(("prefill", "decode"), [(25.0, 42.0), (3.4, 62.0), (0.8, 30.0)])
def test_the_probe_recovers_the_costs_it_is_shown(prefill: float, decode: float) -> None:
    server = FakeServer(prefill, decode, request_ms=30.0)
    costs = probe_of(server).measure("bfloat16", "machine-1", ProbePlan(block_size=32))
    assert costs.prefill_ms_per_token == pytest.approx(prefill)
    assert costs.decode_ms_per_token == pytest.approx(decode)
    assert costs.cached_ttft_ms == pytest.approx(30.0 + prefill)  # one uncached token
    assert costs.request_ms == pytest.approx(30.0)
    assert (costs.dtype, costs.block_size, costs.machine, costs.source) == (
        "bfloat16",
        32,
        "machine-1",
        "measured",
    )


def test_probe_requests_are_relay_shaped_and_never_share_a_prefix() -> None:
    server = FakeServer(1.0, 30.0, 30.0)
    probe_of(server).measure("float32", "m", ProbePlan(block_size=64))
    first_ids = [tuple(b["prompt"][:1]) for b in server.bodies if b["max_tokens"] == 1]  # type: ignore[index]
    # 2 short + 2 long fresh prompts, then the floor resends the last long one 3 times
    assert len(first_ids) == 7 and len(set(first_ids)) == 4
    assert first_ids[-3:] == [first_ids[3]] * 3
    assert all(b["logprobs"] == 2 and b["top_k"] == 20 and b["stream"] for b in server.bodies)
    assert any(b.get("ignore_eos") for b in server.bodies)
    assert {len(b["prompt"]) for b in server.bodies if b["max_tokens"] == 1} == {32, 4 * 64 + 1}  # type: ignore[arg-type]


def test_a_server_that_refuses_is_a_probe_error() -> None:
    refuses = MemoryTransport(lambda r: (400, b"no"))
    with pytest.raises(ProbeError, match="tokenize"):
        CostProbe("http://fake", "m", Sampling(), refuses).measure("bfloat16", "m")
    garbage = MemoryTransport(
        lambda r: (
            (200, json.dumps({"tokens": list(range(500))}).encode())
            if r.path == "/tokenize"
            else (200, MODELS)
            if r.path == "/v1/models"
            else (200, b"data: {not json\n\n")
        )
    )
    with pytest.raises(ProbeError, match="malformed"):
        CostProbe("http://fake", "m", Sampling(), garbage).measure("bfloat16", "m")


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Measurements go to a throw-away cache, not the shared one that holds the converted models."""
    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path))
    return tmp_path


def test_costs_are_cached_per_model_dtype_block_and_machine(own_cache: Path) -> None:
    costs = ServerCosts(
        model="gemma3-270m",
        dtype="float32",
        block_size=32,
        machine="avx2-abc",
        prefill_ms_per_token=3.4,
        decode_ms_per_token=56.2,
        cached_ttft_ms=55.0,
    )
    path = save_costs(costs)
    assert path.is_relative_to(own_cache)
    assert path == costs_path("gemma3-270m", "float32", 32, "avx2-abc") and path.exists()
    loaded = load_costs("gemma3-270m", "float32", 32, "avx2-abc")
    assert loaded is not None and loaded.prefill_ms_per_token == 3.4 and loaded.measured_at
    assert load_costs("gemma3-270m", "bfloat16", 32, "avx2-abc") is None
    assert load_costs("gemma3-270m", "float32", 64, "avx2-abc") is None
    assert load_costs("gemma3-270m", "float32", 32, "avx512-bf16-def") is None
    path.write_text("{broken", encoding="utf-8")
    assert load_costs("gemma3-270m", "float32", 32, "avx2-abc") is None  # measured again, not a crash


def test_the_block_size_is_read_from_vllms_cache_config_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = 'vllm:cache_config_info{_block_size_resolved="True",block_size="64",cache_dtype="auto"} 1.0\n'

    def serving(text: str):  # type: ignore[no-untyped-def]
        client = VLLMClient(MemoryTransport(lambda sent: (200, text.encode())))
        return lambda url, call, timeout: asyncio.run(call(client))

    monkeypatch.setattr(cost_probe, "blocking", serving(metrics))
    assert served_block_size("http://x:1") == 64
    monkeypatch.setattr(cost_probe, "blocking", serving("nothing"))
    assert served_block_size("http://x:1") is None


def test_a_slow_prefill_is_measured_once_to_keep_the_probe_short() -> None:
    server = FakeServer(prefill_ms=25.0, decode_ms=42.0, request_ms=30.0)  # bf16 on an AVX2-only CPU
    costs = probe_of(server).measure("bfloat16", "m", ProbePlan(block_size=32))
    long_prompts = {tuple(b["prompt"]) for b in server.bodies if len(b["prompt"]) == 129}  # type: ignore[arg-type]
    assert len(long_prompts) == 1 and costs.prefill_ms_per_token == pytest.approx(25.0)
    fast = FakeServer(prefill_ms=0.8, decode_ms=30.0, request_ms=30.0)
    probe_of(fast).measure("bfloat16", "m", ProbePlan(block_size=32))
    assert len({tuple(b["prompt"]) for b in fast.bodies if len(b["prompt"]) == 129}) == 2  # type: ignore[arg-type]
