"""The one-pass SSE parser gives exactly what a plain reading of the SSE spec + `json` + pydantic models
give (the httpx-sse path it replaced), on real vLLM chunks."""

from __future__ import annotations

import gzip
import json
import random
from importlib import resources
from typing import Any

import pydantic
import pytest

from relaychat.backends.base import StreamChunk, StreamEnd, Token
from relaychat.backends.sse_fast import MidStreamError, SSEData, parse_payload, stream_chunks
from relaychat.backends.transport import Where, translate
from relaychat.bench import fake_vllm


def _payloads() -> list[str]:
    path = resources.files("relaychat.bench") / "data" / fake_vllm.DEFAULT_RECORDING
    with gzip.open(path.open("rb"), "rt", encoding="utf-8") as handle:
        return [data for line in handle for data in json.loads(line)["data"]]


def _reference_choice(choice: dict[str, Any]) -> StreamChunk:
    """The backend's former `_parse_choice`: validated pydantic models, built the slow, obvious way."""
    text: str = choice.get("text") or ""
    ids: list[int] = choice.get("token_ids") or []
    logprobs = choice.get("logprobs") or {}
    pieces: list[str] = logprobs.get("tokens") or []
    tops: list[dict[str, float] | None] = logprobs.get("top_logprobs") or []
    count = max(len(ids), len(pieces))
    joined = "".join(pieces)
    if joined != text and joined.startswith(text) and len(pieces) == count:
        if choice.get("finish_reason") == "stop" and not isinstance(choice.get("stop_reason"), str):
            # an end-of-text token: its special text is not content (the text without it wins)
            kept, left = [], len(text)
            for piece in pieces:
                kept.append(piece[: max(left, 0)])
                left -= len(piece)
            pieces = kept
        else:
            text = joined
    elif joined != text or len(pieces) != count:
        pieces = [""] * max(count - 1, 0) + [text] if count else []
    tokens = [
        Token(
            text=pieces[i],
            id=ids[i] if i < len(ids) else None,
            top_logprobs=tops[i] if i < len(tops) else None,
        )
        for i in range(count)
    ]
    return StreamChunk(text=text, tokens=tokens, prompt_token_ids=choice.get("prompt_token_ids"))


def reference_chunks(payload: str, end: StreamEnd) -> list[StreamChunk]:
    """The former loop body of `VLLMBackend.stream` (json.loads + the reference choice parser)."""
    chunk = json.loads(payload)
    if chunk.get("usage"):
        end.prompt_tokens = chunk["usage"].get("prompt_tokens")
        end.completion_tokens = chunk["usage"].get("completion_tokens")
    out = []
    for choice in chunk.get("choices") or []:
        parsed = _reference_choice(choice)
        if choice.get("finish_reason") is not None:
            end.finish_reason, end.stop_reason = choice["finish_reason"], choice.get("stop_reason")
        if parsed.tokens or parsed.text or parsed.prompt_token_ids:
            out.append(parsed)
    return out


def _spec_decode(stream: bytes) -> list[bytes]:
    """SSE as the spec reads it, line by line: `data` fields joined by newlines, dispatched at a blank
    line; comments and other fields ignored; one space after the colon dropped."""
    out, data = [], []
    for line in stream.decode().splitlines():
        if not line:
            if data:
                out.append("\n".join(data).encode())
            data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    return out


def test_same_chunks_and_end_as_the_reference_on_every_recorded_payload() -> None:
    payloads = [p for p in _payloads() if p != "[DONE]"]
    assert len(payloads) > 1000
    ours_end, ref_end = StreamEnd(), StreamEnd()
    for payload in payloads:
        ours = parse_payload(payload.encode(), ours_end)
        ref = reference_chunks(payload, ref_end)
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
def test_same_token_split_on_the_edge_cases(choice: dict[str, Any]) -> None:
    payload = json.dumps({"choices": [choice]})
    ours = parse_payload(payload.encode(), StreamEnd())
    ref = reference_chunks(payload, StreamEnd())
    assert [c.model_dump() for c in ours] == [c.model_dump() for c in ref]


def test_framing_matches_the_spec_at_any_read_boundary() -> None:
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
        expected = _spec_decode(stream)
        assert len(expected) == 200
        assert got == expected


def test_framing_joins_data_lines_and_skips_comments_and_other_fields() -> None:
    framing = SSEData()
    raw = b': ping\n\nevent: x\nid: 3\ndata: {"a":\ndata:1}\n\n'
    assert framing.feed(raw) == [b'{"a":\n1}'] == _spec_decode(raw)


def test_untrusted_payloads_raise_validation_errors_or_the_servers_message() -> None:
    with pytest.raises(pydantic.ValidationError):
        parse_payload(b"{not json", StreamEnd())
    with pytest.raises(pydantic.ValidationError):  # JSON, but not an object
        parse_payload(b"[1, 2, 3]", StreamEnd())
    with pytest.raises(pydantic.ValidationError):  # a logprob that is not a number
        parse_payload(
            b'{"choices": [{"text": "a", "token_ids": [1], "logprobs": {"tokens": ["a"], '
            b'"top_logprobs": [{"a": "high"}]}}]}',
            StreamEnd(),
        )
    with pytest.raises(pydantic.ValidationError):  # a token id that is not an integer
        parse_payload(b'{"choices": [{"text": "a", "token_ids": ["x"]}]}', StreamEnd())
    with pytest.raises(MidStreamError, match=r"^boom$"):
        parse_payload(b'{"error": {"message": "boom"}}', StreamEnd())


async def test_stream_chunks_stops_at_done() -> None:
    async def body():  # type: ignore[no-untyped-def]
        yield b'data: {"choices": [{"text": "a", "token_ids": [1]}]}\n\ndata: [DONE]\n\n'
        raise AssertionError("read past [DONE]")

    end = StreamEnd()
    chunks = [c async for c in stream_chunks(body(), end)]
    assert [c.text for c in chunks] == ["a"]


async def test_a_malformed_stream_is_a_protocol_error_that_does_not_echo_the_payload() -> None:
    where = Where("http://127.0.0.1:9")
    for payload in (b"{\x1b[2J oops", b'{"choices": [{"token_ids": ["\\u001b]0;pwned"]}]}'):
        try:
            parse_payload(payload, StreamEnd())
        except pydantic.ValidationError as exc:
            error = translate(exc, where)
        assert error.kind == "protocol" and "wrong shape" in str(error)
        assert "\x1b" not in str(error) and "pwned" not in str(error)


def test_the_end_of_text_token_is_not_content_but_a_stop_string_cut_keeps_whole_tokens() -> None:
    """Real vLLM (recorded): the EOS chunk has `text` "" and the token string "<|im_end|>"."""
    eos = {
        "text": "",
        "token_ids": [151645],
        "logprobs": {"tokens": ["<|im_end|>"], "top_logprobs": [{"<|im_end|>": -0.1}]},
        "finish_reason": "stop",
        "stop_reason": None,
    }
    chunks = [
        c
        for c in parse_payload(json.dumps({"choices": [eos]}).encode(), StreamEnd())
        if isinstance(c, StreamChunk)
    ]
    assert chunks[0].text == "" and [t.text for t in chunks[0].tokens] == [""]
    assert chunks[0].tokens[0].id == 151645
    recorded = [json.loads(p) for p in _payloads() if p != "[DONE]" and "<|im_end|>" in p]
    ends = [c for p in recorded for c in (p.get("choices") or []) if c.get("finish_reason") == "stop"]
    assert ends, "the recording has end-of-text chunks"
    stop = {
        "text": " So",
        "token_ids": [7],
        "logprobs": {"tokens": [" So,"], "top_logprobs": [{" So,": -0.1}]},
        "finish_reason": "stop",
        "stop_reason": " So",
    }
    chunks = [
        c
        for c in parse_payload(json.dumps({"choices": [stop]}).encode(), StreamEnd())
        if isinstance(c, StreamChunk)
    ]
    assert chunks[0].text == " So," and [t.text for t in chunks[0].tokens] == [" So,"]
