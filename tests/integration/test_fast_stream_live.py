"""The faster stream (lean HTTP client + one-pass parser) against real vLLM: the same chunks as httpx."""

from __future__ import annotations

from relaychat.backends.base import CompletionRequest
from relaychat.backends.vllm import VLLMBackend
from relaychat.bench.fast_backend import FastHTTPBackend
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.events import RunFinished
from relaychat.core.profile import PairProfile


async def test_same_chunks_as_the_httpx_backend_on_a_real_server(demo_profile: PairProfile) -> None:
    request = CompletionRequest(prompt="The capital of France is", max_tokens=16, temperature=0.0, seed=3)
    streams = []
    for kind in (VLLMBackend, FastHTTPBackend):
        backend = kind(demo_profile.small.url)
        try:
            streams.append([item.model_dump() async for item in backend.stream(request)])
        finally:
            await backend.aclose()
    assert streams[0] == streams[1]
    assert streams[1][-1]["completion_tokens"] == 16
    assert all(c["tokens"][0]["top_logprobs"] for c in streams[1] if c["type"] == "chunk")


async def test_a_relay_runs_to_the_end_over_the_fast_stream(demo_profile: PairProfile) -> None:
    backends = {
        "large": FastHTTPBackend(demo_profile.large.url),
        "small": FastHTTPBackend(demo_profile.small.url),
    }
    controller = RelayController(demo_profile, backends, RelayOptions(max_tokens=80, seed=5))  # type: ignore[arg-type]
    try:
        events = [e async for e in controller.run([{"role": "user", "content": "What is 6 x 7?"}])]
    finally:
        for backend in backends.values():
            await backend.aclose()
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.summary.total_tokens > 0
