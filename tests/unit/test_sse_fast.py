"""The one-pass SSE parser gives exactly what httpx-sse + json + `_parse_choice` give, on real vLLM chunks."""

from __future__ import annotations

import gzip
import json
import random
from importlib import resources

import pytest
from httpx_sse._decoders import SSEDecoder

from relaychat.backends.base import CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.errors import ProtocolError, ServerFailed
from relaychat.backends.sse_fast import SSEData, parse_payload, stream_chunks
from relaychat.backends.vllm import VLLMBackend, _parse_choice
from relaychat.bench import fake_vllm
from relaychat.bench.fast_backend import FastSSEBackend

URL = "http://test"


def _payloads() -> list[str]:
    path = resources.files("relaychat.bench") / "data" / fake_vllm.DEFAULT_RECORDING
    with gzip.open(path.open("rb"), "rt", encoding="utf-8") as handle:
        return [data for line in handle for data in json.loads(line)["data"]]


def _reference(payload: str, end: StreamEnd) -> list[StreamChunk]:
    """The loop body of `VLLMBackend.stream` as it stands."""
    chunk = json.loads(payload)
    if chunk.get("usage"):
        end.prompt_tokens = chunk["usage"].get("prompt_tokens")
        end.completion_tokens = chunk["usage"].get("completion_tokens")
    out = []
    for choice in chunk.get("choices") or []:
        parsed = _parse_choice(choice)
        if choice.get("finish_reason") is not None:
            end.finish_reason, end.stop_reason = choice["finish_reason"], choice.get("stop_reason")
        if parsed.tokens or parsed.text or parsed.prompt_token_ids:
            out.append(parsed)
    return out


def test_same_chunks_and_end_as_the_reference_on_every_recorded_payload() -> None:
    payloads = [p for p in _payloads() if p != "[DONE]"]
    assert len(payloads) > 1000
    ours_end, ref_end = StreamEnd(), StreamEnd()
    for payload in payloads:
        ours = parse_payload(payload.encode(), ours_end, URL)
        ref = _reference(payload, ref_end)
        assert [c.model_dump() for c in ours] == [c.model_dump() for c in ref]
        assert ours_end == ref_end


@pytest.mark.parametrize(
    "choice",
    [
        # a stop string cut inside the last token: the whole token's text is kept
        {
            "text": "ab",
            "token_ids": [1, 2],
            "logprobs": {"tokens": ["a", "bc"], "top_logprobs": [None, None]},
        },
        # byte pieces of one character that do not add up: all text to the last token
        {"text": "é", "token_ids": [7, 8], "logprobs": {"tokens": ["\\xc3", "\\xa9"], "top_logprobs": []}},
        # no logprobs at all, ids only
        {"text": "hi", "token_ids": [3], "logprobs": None},
        {"text": "", "token_ids": [], "prompt_token_ids": [1, 2, 3]},
    ],
)
def test_same_token_split_on_the_edge_cases(choice: dict) -> None:
    payload = json.dumps({"choices": [choice]})
    ours = parse_payload(payload.encode(), StreamEnd(), URL)
    ref = _reference(payload, StreamEnd())
    assert [c.model_dump() for c in ours] == [c.model_dump() for c in ref]


def test_framing_matches_httpx_sse_at_any_read_boundary() -> None:
    events = ["data: " + p for p in _payloads()[:200]]
    raw = ("\n\n".join(events) + "\n\n").encode()
    rng = random.Random(3)
    for line_end in (b"\n", b"\r\n"):
        stream = raw.replace(b"\n", line_end)
        framing, got, at = SSEData(), [], 0
        while at < len(stream):
            step = rng.randint(1, 900)
            got += framing.feed(stream[at : at + step])
            at += step
        decoder, expected = SSEDecoder(), []
        for line in stream.decode().splitlines():
            sse = decoder.decode(line)
            if sse is not None:
                expected.append(sse.data.encode())
        assert got == expected


def test_framing_joins_data_lines_and_skips_comments_and_other_fields() -> None:
    framing = SSEData()
    assert framing.feed(b': ping\n\nevent: x\nid: 3\ndata: {"a":\ndata:1}\n\n') == [b'{"a":\n1}']


def test_untrusted_payloads_raise_value_errors_or_server_failed() -> None:
    with pytest.raises(ValueError):
        parse_payload(b"{not json", StreamEnd(), URL)
    with pytest.raises(ValueError):  # a logprob that is not a number
        parse_payload(
            b'{"choices": [{"text": "a", "token_ids": [1], "logprobs": {"tokens": ["a"], '
            b'"top_logprobs": [{"a": "high"}]}}]}',
            StreamEnd(),
            URL,
        )
    with pytest.raises(ValueError):  # a token id that is not an integer
        parse_payload(b'{"choices": [{"text": "a", "token_ids": ["x"]}]}', StreamEnd(), URL)
    with pytest.raises(ServerFailed, match="mid-stream: boom"):
        parse_payload(b'{"error": {"message": "boom"}}', StreamEnd(), URL)


async def test_stream_chunks_stops_at_done() -> None:
    async def body():  # type: ignore[no-untyped-def]
        yield b'data: {"choices": [{"text": "a", "token_ids": [1]}]}\n\ndata: [DONE]\n\n'
        raise AssertionError("read past [DONE]")

    end = StreamEnd()
    chunks = [c async for c in stream_chunks(body(), URL, end)]
    assert [c.text for c in chunks] == ["a"]


async def test_fast_backend_streams_what_the_current_backend_streams() -> None:
    request = CompletionRequest(prompt=[1, 2], max_tokens=40)
    results = []
    for kind in (VLLMBackend, FastSSEBackend):
        started = await fake_vllm.start({"large": 0})  # a fresh server replays from the same start
        backend = kind(f"http://127.0.0.1:{fake_vllm.port_of(started['large'])}")
        try:
            results.append([item.model_dump() async for item in backend.stream(request)])
        finally:
            await backend.aclose()
            started["large"].close()
    assert results[0] == results[1]
    assert results[1][-1]["completion_tokens"] == 40


async def test_fast_backend_reports_a_malformed_stream_as_a_protocol_error() -> None:
    backend = FastSSEBackend("http://127.0.0.1:9")

    async def body():  # type: ignore[no-untyped-def]
        yield b"data: {oops\n\n"

    with pytest.raises(ProtocolError):
        try:
            async for _ in stream_chunks(body(), URL, StreamEnd()):
                pass
        except Exception as exc:
            raise backend._translate(exc) from exc
    await backend.aclose()
