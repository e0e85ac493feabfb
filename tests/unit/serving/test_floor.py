"""The cached-TTFT floor: one measurement (`serving.floor`), taken by the cost probe and by bench.

The servers are in memory (`MemoryTransport`): a prefix-caching fake on a fake clock, so the floor
is known exactly (request cost + one uncached token's prefill)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from rich.console import Console

from relaychat.backends.transport import MemoryTransport, Sent
from relaychat.backends.vllm import VLLMBackend
from relaychat.bench.runner import BenchPlan
from relaychat.cli.bench import _bench
from relaychat.core.profile import Sampling, load_profile
from relaychat.relay import open_relay
from relaychat.serving.cost_probe import CostProbe, ProbePlan
from relaychat.serving.floor import ProbeError, cached_ttft_s
from tests.unit.serving.test_cost_probe import MODELS, FakeServer

SAMPLING = Sampling(temperature=0.6, top_p=0.95, top_k=20)


def backend_of(server: FakeServer) -> tuple[VLLMBackend, MemoryTransport]:
    transport = MemoryTransport(server.handle, url="http://fake")
    return VLLMBackend("http://fake", model="m", transport=transport), transport


def floor_bodies(transport: MemoryTransport) -> list[dict[str, object]]:
    return [s.json() for s in transport.sent if s.path == "/v1/completions"]


def test_the_floor_is_one_uncached_token_on_a_fresh_prompt_of_whole_blocks_plus_one() -> None:
    server = FakeServer(prefill_ms=3.0, decode_ms=40.0, request_ms=30.0, block=16)
    backend, transport = backend_of(server)
    floor = asyncio.run(cached_ttft_s(backend, SAMPLING, block_size=16, repeats=3, clock=server.clock))
    assert floor == pytest.approx(0.030 + 0.003)  # the first request filled the cache
    bodies = floor_bodies(transport)
    assert len(bodies) == 1 + 3 and len({tuple(b["prompt"]) for b in bodies}) == 1  # type: ignore[arg-type]
    assert len(bodies[0]["prompt"]) == 4 * 16 + 1  # type: ignore[arg-type]
    for body in bodies:  # the request the relay sends (VLLMBackend's body), one token
        assert body["max_tokens"] == 1 and body["logprobs"] == 2 and body["stream"] is True
        assert (body["temperature"], body["top_p"], body["top_k"], body["seed"]) == (0.6, 0.95, 20, 0)
        assert body["return_token_ids"] is True and body["add_special_tokens"] is False


def test_the_default_prompt_is_whole_blocks_plus_one_for_blocks_of_32_and_16() -> None:
    server = FakeServer(prefill_ms=2.0, decode_ms=40.0, request_ms=20.0, block=16)
    backend, transport = backend_of(server)
    floor = asyncio.run(cached_ttft_s(backend, SAMPLING, clock=server.clock))
    assert len(floor_bodies(transport)[0]["prompt"]) == 129  # type: ignore[arg-type]
    assert floor == pytest.approx(0.022)


def test_the_floor_is_the_median_so_one_slow_repeat_does_not_move_it() -> None:
    server = FakeServer(prefill_ms=2.0, decode_ms=40.0, request_ms=20.0)
    requests = 0

    def noisy(sent: Sent) -> tuple[int, bytes | Iterator[bytes]]:
        nonlocal requests
        answer = server.handle(sent)
        if sent.path == "/v1/completions":
            requests += 1
            if requests == 3:
                server.now += 0.5  # another process took the core during this one
        return answer

    backend = VLLMBackend("http://fake", model="m", transport=MemoryTransport(noisy))
    floor = asyncio.run(cached_ttft_s(backend, SAMPLING, repeats=5, clock=server.clock))
    assert floor == pytest.approx(0.022)


def test_a_server_that_streams_no_token_or_a_cut_stream_is_a_probe_error() -> None:
    def answering(stream: bytes) -> MemoryTransport:
        def handle(sent: Sent) -> tuple[int, bytes]:
            if sent.path == "/v1/models":
                return 200, MODELS
            if sent.path == "/tokenize":
                return 200, json.dumps({"tokens": list(range(500))}).encode()
            return 200, stream

        return MemoryTransport(handle)

    empty = b'data: {"choices": [{"text": "", "finish_reason": "length"}]}\n\ndata: [DONE]\n\n'
    cut = b'data: {"choices": [{"text": "x"}]}\n\n'
    for stream, message in ((empty, "streamed no token"), (cut, "malformed stream")):
        backend = VLLMBackend("http://fake", model="m", transport=answering(stream))
        with pytest.raises(ProbeError, match=message):
            asyncio.run(cached_ttft_s(backend, SAMPLING))


def test_the_cost_probe_and_bench_take_the_same_floor() -> None:
    """The cost probe's floor (its long prompt resent) and bench's own (a fresh prompt of the
    server's block size) are the same measurement: equal on the same server."""
    probed = FakeServer(prefill_ms=3.0, decode_ms=40.0, request_ms=30.0)
    probe = CostProbe(
        "http://fake", "m", SAMPLING, MemoryTransport(probed.handle, url="http://fake"), probed.clock
    )
    costs = probe.measure("float32", "machine", ProbePlan(block_size=32))
    probe_ttfts = [b for b in probed.bodies if b["max_tokens"] == 1]

    benched = FakeServer(prefill_ms=3.0, decode_ms=40.0, request_ms=30.0)
    backend, _ = backend_of(benched)
    floor = asyncio.run(cached_ttft_s(backend, SAMPLING, 32, clock=benched.clock))
    assert costs.cached_ttft_ms == pytest.approx(floor * 1000) == pytest.approx(33.0)
    # ... on the same request: the relay's body, one token (only the prompt differs: a nonce)
    shape = {json.dumps({k: v for k, v in b.items() if k != "prompt"}) for b in probe_ttfts + benched.bodies}
    assert len(shape) == 1


def test_bench_measures_a_floor_the_cost_probe_did_not_with_the_servers_block_size() -> None:
    large = FakeServer(prefill_ms=3.0, decode_ms=40.0, request_ms=30.0, block=16)
    large_backend, large_sent = backend_of(large)
    small_backend, small_sent = backend_of(FakeServer(prefill_ms=1.0, decode_ms=20.0, request_ms=10.0))
    relay = open_relay(
        load_profile("same-model"), backends={"large": large_backend, "small": small_backend}, policy=None
    )
    plan = BenchPlan(["What is 2 + 2?"])
    console = Console(quiet=True)
    results, floors = asyncio.run(
        _bench(relay, [], plan, False, False, console, {"small": 40.0}, {"large": 16})
    )
    assert results == [] and floors["small"] == 40.0 and floors["large"] > 0
    assert not floor_bodies(small_sent)  # measured within the hour by the cost probe: not again
    prompts = [tuple(b["prompt"]) for b in floor_bodies(large_sent)]  # type: ignore[arg-type]
    assert len(prompts) == 4 and len(set(prompts)) == 1 and len(prompts[0]) == 4 * 16 + 1
    assert small_sent.closed and large_sent.closed  # the relay closed its backends once, at the end
