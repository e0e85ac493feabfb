"""The one vLLM client over an in-memory transport: request bodies, endpoints, and one error table."""

from __future__ import annotations

import json

import aiohttp
import pytest

from relaychat.backends.base import CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.errors import (
    ProtocolError,
    RequestRejected,
    ServerBusy,
    ServerFailed,
    ServerTimeout,
)
from relaychat.backends.transport import ERRORS, MemoryTransport, Sent, Where, translate
from relaychat.backends.vllm import VLLMBackend
from relaychat.backends.vllm_client import VLLMClient, completion_body


def sse(*events: object) -> list[bytes]:
    return [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]


def vllm(sent: Sent) -> tuple[int, bytes | list[bytes]]:
    """A tiny vLLM: one model, tokenize by words, a two-token stream."""
    if sent.path == "/v1/models":
        return 200, json.dumps({"data": [{"id": "m", "max_model_len": 4096}]}).encode()
    if sent.path == "/tokenize":
        return 200, json.dumps({"tokens": list(range(len(sent.json()["prompt"].split())))}).encode()
    if sent.path == "/v1/completions" and sent.json().get("stream"):
        return 200, sse(
            {
                "choices": [
                    {"text": "Hi", "token_ids": [7], "logprobs": {"tokens": ["Hi"], "top_logprobs": [{}]}}
                ]
            },
            {"choices": [{"text": "!", "token_ids": [8], "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        )
    return 404, b'{"error": {"message": "no such route"}}'


def test_the_body_carries_vllms_extras_at_the_top_level() -> None:
    request = CompletionRequest(prompt=[1, 2], max_tokens=5, min_tokens=2, stop=["Now"], top_k=20, seed=3)
    body = completion_body(request, "m", stream=True)
    assert body["model"] == "m" and body["prompt"] == [1, 2] and body["stream"] is True
    assert (body["min_tokens"], body["top_k"], body["seed"], body["return_token_ids"]) == (2, 20, 3, True)
    assert body["stop"] == ["Now"] and body["include_stop_str_in_output"] is True
    assert "min_tokens" not in completion_body(CompletionRequest(prompt="x", max_tokens=1), "m")


async def test_a_backend_over_memory_streams_tokens_and_reads_the_model() -> None:
    transport = MemoryTransport(vllm, url="http://fake")
    backend = VLLMBackend("http://fake", transport=transport)
    assert (await backend.info()).name == "m"
    assert await backend.tokenize("one two three") == [0, 1, 2]
    items = [i async for i in backend.stream(CompletionRequest(prompt="q", max_tokens=2))]
    chunks = [i for i in items if isinstance(i, StreamChunk)]
    end = items[-1]
    assert "".join(c.text for c in chunks) == "Hi!" and [t.id for c in chunks for t in c.tokens] == [7, 8]
    assert isinstance(end, StreamEnd) and end.finish_reason == "stop" and end.completion_tokens == 2
    assert [s.path for s in transport.sent] == ["/v1/models", "/tokenize", "/v1/completions"]
    assert transport.sent[-1].json()["stream_options"] == {"include_usage": True}
    await backend.aclose()
    assert transport.closed


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (503, b'{"error": {"message": "overloaded"}}', ServerBusy, "busy (HTTP 503): overloaded"),
        (400, b'{"message": "too many stop strings, at most 4"}', RequestRejected, "VLLM_MAX_STOP_STRINGS"),
        (500, b"boom", ServerFailed, "failed (HTTP 500): boom"),
        (200, b"{not json", ProtocolError, "unexpected reply"),
    ],
)
async def test_replies_become_typed_errors(status: int, body: bytes, error: type, words: str) -> None:
    client = VLLMClient(MemoryTransport(lambda sent: (status, body), url="http://fake"))
    with pytest.raises(error, match="http://fake") as raised:
        await client.complete({"model": "m", "prompt": "x", "max_tokens": 1})
    assert words in str(raised.value)


async def test_a_mid_stream_error_object_and_a_malformed_event_are_typed() -> None:
    broken = MemoryTransport(lambda sent: (200, sse({"error": {"message": "engine died"}})))
    with pytest.raises(ServerFailed, match="engine died"):
        [c async for c in VLLMClient(broken).stream({"stream": True})]
    garbage = MemoryTransport(lambda sent: (200, [b"data: [1, 2]\n\n"]))
    with pytest.raises(ProtocolError, match="not a JSON object"):
        [c async for c in VLLMClient(garbage).stream({"stream": True})]


def test_one_table_maps_the_librarys_errors() -> None:
    where = Where("http://user:secret@host:1", read_timeout=7)
    assert isinstance(translate(TimeoutError(), where), ServerTimeout)
    assert "7 s" in str(translate(TimeoutError(), where))
    cut = translate(aiohttp.ClientPayloadError("body cut"), where)
    assert isinstance(cut, ServerFailed) and "secret" not in str(cut) and "mid-stream" in str(cut)
    assert isinstance(translate(aiohttp.ServerDisconnectedError(), where), ServerFailed)
    with pytest.raises(RuntimeError):
        translate(RuntimeError("a bug of ours"), where)  # not a server's fault: not swallowed
    assert all(isinstance(types, tuple) for types, _ in ERRORS)


async def test_health_is_false_when_the_server_fails() -> None:
    assert await VLLMClient(MemoryTransport(lambda sent: (200, b""))).health()
    assert not await VLLMClient(MemoryTransport(lambda sent: (503, b""))).health()
