"""vLLM's streamed `/v1/completions` chunks, parsed in one pass: a cheaper hot path than httpx-sse + json.

The profile of `bench --client-only` puts the per-chunk cost in the layers above the socket: httpx-sse
decodes every line through several generators, `json.loads` builds the chunk, and pydantic validates
each `Token` again. Here the response bytes are split into SSE `data:` payloads directly, and each
payload is parsed *and type-checked* by one pydantic-core call (`validate_json` on a typed schema, in
Rust), after which the tokens are built without validating twice. Server replies stay untrusted: a
payload of the wrong shape raises `ValueError` (pydantic's `ValidationError`), which the backend turns
into a `ProtocolError` as before.

Same results as the httpx-sse + json + pydantic path it replaced (tested on the recorded vLLM streams).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from relaychat.backends.base import StreamChunk, StreamEnd, Token


class _Logprobs(TypedDict, total=False):
    tokens: list[str] | None
    top_logprobs: list[dict[str, float] | None] | None


class _Choice(TypedDict, total=False):
    text: str | None
    token_ids: list[int] | None
    logprobs: _Logprobs | None
    finish_reason: str | None
    stop_reason: str | int | None
    prompt_token_ids: list[int] | None


class _Usage(TypedDict, total=False):
    prompt_tokens: int | None
    completion_tokens: int | None


class _Chunk(TypedDict, total=False):
    choices: list[_Choice] | None
    usage: _Usage | None
    error: Any


class MidStreamError(Exception):
    """vLLM's error object inside a stream (the request failed after its 200); `str()` is its message."""


_CHUNK: TypeAdapter[_Chunk] = TypeAdapter(_Chunk)
_DONE = b"[DONE]"
_new, _set = object.__new__, object.__setattr__
_TOKEN_FIELDS = frozenset(Token.model_fields)
_CHUNK_FIELDS = frozenset(StreamChunk.model_fields)


def _trusted(cls: type, fields: frozenset[str], values: dict[str, Any]) -> Any:
    """A pydantic model from values validated already: what `model_construct` does, minus its
    per-field Python loop (which costs more than validating again). Guarded by equality tests."""
    model: Any = _new(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", fields)
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


class SSEData:
    """Incremental SSE framing: raw response bytes in, complete `data:` payloads out.

    Events end at a blank line; an event's `data:` lines are joined with newlines (the SSE rule), other
    fields and comments are ignored. `\\r\\n` and `\\r` line ends are accepted as the spec allows.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data
        if b"\r" in buffer:
            keep_cr = buffer.endswith(b"\r")  # a \r\n may be split across reads
            buffer = buffer[:-1] if keep_cr else buffer
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if keep_cr else b"")
        events = buffer.split(b"\n\n")
        self._buffer = events.pop()
        payloads = []
        for event in events:
            if event.startswith(b"data: ") and b"\n" not in event:  # the common case: one data line
                payloads.append(event[6:])
                continue
            lines = [line for line in event.split(b"\n") if line.startswith(b"data:")]
            if lines:
                payloads.append(b"\n".join(line[6:] if line[5:6] == b" " else line[5:] for line in lines))
        return payloads


def _ends_text(choice: _Choice) -> bool:
    """The chunk ends the stream at an end-of-text token: "stop" without a stop string."""
    return choice.get("finish_reason") == "stop" and not isinstance(choice.get("stop_reason"), str)


def _cut_pieces(pieces: list[str], length: int) -> list[str]:
    """The per-token strings cut to add up to the first `length` characters (later ones left empty)."""
    cut: list[str] = []
    for piece in pieces:
        cut.append(piece[: max(length, 0)])
        length -= len(piece)
    return cut


def parse_choice(choice: _Choice) -> StreamChunk:
    """Split a validated choice's text into its tokens using vLLM's per-token strings when they add up.

    A stop string cut inside the last token: the whole tokens are kept (the relay trims at token
    boundaries itself, and the ids are whole tokens anyway). Byte-level pieces of a multi-byte character
    that do not add up to the text: the boundaries are unknown, so the whole text goes to the last token."""
    text = choice.get("text") or ""
    ids = choice.get("token_ids") or []
    logprobs = choice.get("logprobs") or {}
    pieces = logprobs.get("tokens") or []
    tops = logprobs.get("top_logprobs") or []
    count = max(len(ids), len(pieces))
    joined = "".join(pieces)
    if joined != text and joined.startswith(text) and len(pieces) == count:
        if _ends_text(choice):
            # The end-of-text token (`<|im_end|>`): the server leaves its special text out of `text`
            # but still names it in the per-token strings. It is not content.
            pieces = _cut_pieces(pieces, len(text))
        else:
            text = joined  # cut at a stop string inside the last token: keep the whole tokens
    elif joined != text or len(pieces) != count:
        pieces = [""] * max(count - 1, 0) + [text] if count else []  # boundaries unknown: all to the last
    n_ids, n_tops = len(ids), len(tops)
    tokens = [
        _trusted(
            Token,
            _TOKEN_FIELDS,
            {
                "text": pieces[i],
                "id": ids[i] if i < n_ids else None,
                "top_logprobs": tops[i] if i < n_tops else None,
            },
        )
        for i in range(count)
    ]
    values = {
        "type": "chunk",
        "text": text,
        "tokens": tokens,
        "prompt_token_ids": choice.get("prompt_token_ids"),
    }
    chunk: StreamChunk = _trusted(StreamChunk, _CHUNK_FIELDS, values)
    return chunk


def parse_payload(payload: bytes, end: StreamEnd) -> list[StreamChunk]:
    """One `data:` payload: the chunks worth yielding; `end` collects usage and the finish reason.

    Raises `MidStreamError` for vLLM's mid-stream error object, `ValueError` for a malformed payload."""
    chunk = _CHUNK.validate_json(payload)
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise MidStreamError(str(message))
    usage = chunk.get("usage")
    if usage:
        end.prompt_tokens = usage.get("prompt_tokens")
        end.completion_tokens = usage.get("completion_tokens")
    out = []
    for choice in chunk.get("choices") or []:
        parsed = parse_choice(choice)
        if choice.get("finish_reason") is not None:
            end.finish_reason = choice["finish_reason"]
            end.stop_reason = choice.get("stop_reason")
        if parsed.tokens or parsed.text or parsed.prompt_token_ids:
            out.append(parsed)
    return out


async def stream_chunks(body: AsyncIterator[bytes], end: StreamEnd) -> AsyncIterator[StreamChunk]:
    """The chunks of one streamed response body, up to `[DONE]`; `end` is filled in on the way."""
    framing = SSEData()
    async for data in body:
        for payload in framing.feed(data):
            if payload == _DONE:
                return
            for chunk in parse_payload(payload, end):
                yield chunk
