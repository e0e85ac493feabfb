"""The token stream (aiohttp + the one-pass parser) against real vLLM: the same tokens as vLLM's own
non-streamed reply, and a relay over it runs to the end."""

from __future__ import annotations

import httpx

from relaychat.backends.base import CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.vllm import VLLMBackend
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.events import RunFinished
from relaychat.core.profile import PairProfile


async def test_the_stream_has_the_tokens_of_the_servers_own_whole_reply(demo_profile: PairProfile) -> None:
    request = CompletionRequest(prompt="The capital of France is", max_tokens=16, temperature=0.0, seed=3)
    backend = VLLMBackend(demo_profile.small.url)
    try:
        items = [item async for item in backend.stream(request)]
        body = await backend._body(request)
        async with httpx.AsyncClient(base_url=backend.url, timeout=120) as client:
            whole = (await client.post("/v1/completions", json=body)).json()["choices"][0]
    finally:
        await backend.aclose()
    chunks = [item for item in items if isinstance(item, StreamChunk)]
    end = items[-1]
    assert isinstance(end, StreamEnd) and end.completion_tokens == 16
    assert [t.id for c in chunks for t in c.tokens] == whole["token_ids"]
    assert "".join(c.text for c in chunks) == whole["text"]
    assert all(t.top_logprobs for c in chunks for t in c.tokens)


async def test_a_relay_runs_to_the_end_over_the_stream(demo_profile: PairProfile) -> None:
    backends = {"large": VLLMBackend(demo_profile.large.url), "small": VLLMBackend(demo_profile.small.url)}
    controller = RelayController(demo_profile, backends, RelayOptions(max_tokens=80, seed=5))  # type: ignore[arg-type]
    try:
        events = [e async for e in controller.run([{"role": "user", "content": "What is 6 x 7?"}])]
    finally:
        for backend in backends.values():
            await backend.aclose()
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.summary.total_tokens > 0
