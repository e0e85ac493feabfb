"""`VLLMBackend.stream` (aiohttp + the one-pass parser) against small raw servers: the recorded vLLM chunks
come out as the reference parse gives them, connections are kept after a whole stream and dropped at an
early close (so vLLM aborts the request), and every broken reply is a typed error without secrets."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable
from importlib import resources

import pytest

from relaychat.backends.base import CompletionRequest, ModelInfo, StreamEnd
from relaychat.backends.errors import (
    ProtocolError,
    RequestRejected,
    ServerBusy,
    ServerFailed,
    ServerTimeout,
    ServerUnreachable,
)
from relaychat.backends.vllm import VLLMBackend
from relaychat.bench import fake_vllm
from tests.unit.backends.test_sse_fast import reference_chunks

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
KEY = "sk-secret-41f9"


def _recorded_payloads() -> list[str]:
    """The first recorded vLLM stream's `data:` payloads, [DONE] included."""
    path = resources.files("relaychat.bench") / "data" / fake_vllm.DEFAULT_RECORDING
    with gzip.open(path.open("rb"), "rt", encoding="utf-8") as handle:
        return list(json.loads(handle.readline())["data"])


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return head + await reader.readexactly(length)


class Server:
    """A raw HTTP server on 127.0.0.1 that counts its connections and what each request sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def _backend(url: str, **kwargs: object) -> VLLMBackend:
    backend = VLLMBackend(url, **kwargs)  # type: ignore[arg-type]
    backend._info = ModelInfo(name="m")  # no /v1/models round trip
    return backend


async def _collect(backend: VLLMBackend, max_tokens: int = 5) -> list[object]:
    return [item async for item in backend.stream(CompletionRequest(prompt="x", max_tokens=max_tokens))]


def _sse_server(payloads: list[str], requests: list[bytes]) -> Handler:
    """Answers every request on a connection with the payloads as a chunked SSE body (keep-alive)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                requests.append(await _request(reader))
            except asyncio.IncompleteReadError:
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            for payload in payloads:
                writer.write(_chunk(b"data: " + payload.encode() + b"\n\n"))
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    return handler


async def test_recorded_vllm_chunks_come_out_as_the_reference_parse_gives_them() -> None:
    payloads = _recorded_payloads()
    requests: list[bytes] = []
    async with Server(_sse_server(payloads, requests)) as server:
        backend = _backend(server.url, api_key=KEY)
        try:
            got = await _collect(backend)
            again = await _collect(backend)
        finally:
            await backend.aclose()
    end = StreamEnd()
    expected = [c.model_dump() for p in payloads if p != "[DONE]" for c in reference_chunks(p, end)]
    assert len(expected) > 100
    assert [item.model_dump() for item in got] == [*expected, end.model_dump()]  # type: ignore[attr-defined]
    assert [item.model_dump() for item in again] == [*expected, end.model_dump()]  # type: ignore[attr-defined]
    assert server.connections == 1  # the second stream reused the first one's connection
    head, _, body = requests[0].partition(b"\r\n\r\n")
    assert f"authorization: bearer {KEY}".encode() in head.lower()
    sent = json.loads(body)
    assert (
        sent["stream"] is True and sent["model"] == "m" and sent["stream_options"] == {"include_usage": True}
    )


async def test_closing_the_stream_early_closes_its_connection() -> None:
    """What the relay does at a cut: vLLM must see the disconnect (and abort), and no one may reuse it."""
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for index in range(1000):
            choice = {"text": f" t{index}", "token_ids": [index], "finish_reason": None}
            writer.write(_chunk(b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n\n"))
            await writer.drain()
            if reader.at_eof():
                break
            await asyncio.sleep(0.01)
        closed.set()

    async with Server(handler) as server:
        backend = _backend(server.url)
        try:
            stream = backend.stream(CompletionRequest(prompt="x", max_tokens=1000))
            first = await anext(stream)
            await stream.aclose()
            await asyncio.wait_for(closed.wait(), 5)
        finally:
            await backend.aclose()
    assert first.text == " t0"  # type: ignore[union-attr]


def _reply(raw: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(raw)
        await writer.drain()

    return handler


def _json_reply(status: int, body: object, extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    return f"HTTP/1.1 {status} X\r\ncontent-length: {len(data)}\r\n{extra}\r\n".encode() + data


def _sse_reply(*events: bytes, end: bytes = b"0\r\n\r\n") -> bytes:
    body = b"".join(_chunk(b"data: " + e + b"\n\n") for e in events)
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + body + end


TOKEN = b'{"choices": [{"text": "a", "token_ids": [1], "finish_reason": null}]}'


@pytest.mark.parametrize(
    ("raw", "error", "words"),
    [
        (_json_reply(400, {"error": {"message": "too many stop strings"}}), RequestRejected, "stop strings"),
        (_json_reply(503, {"message": "warming up"}, "retry-after: 7\r\n"), ServerBusy, "retry in 7 s"),
        (_json_reply(500, {"error": {"message": f"boom {KEY}"}}), ServerFailed, "HTTP 500"),
        (_sse_reply(TOKEN, end=b""), ServerFailed, "mid-stream"),  # the server closes mid-body
        (_sse_reply(TOKEN, f'{{"error": {{"message": "oom {KEY}"}}}}'.encode()), ServerFailed, "mid-stream"),
        (_sse_reply(TOKEN, b"[DONE]"), ProtocolError, "without a finish reason"),
        (_sse_reply(TOKEN, b"[1, 2, 3]"), ProtocolError, "not a JSON object"),
        (_sse_reply(TOKEN, b"{not json"), ProtocolError, "wrong shape"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", ProtocolError, "not HTTP"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: lots\r\n\r\n", ProtocolError, "not HTTP"),
        (b"HTTP/1.1 200 OK\r\nx: " + b"y" * 300_000 + b"\r\n\r\n", ProtocolError, "not HTTP"),
    ],
    ids=[
        "400",
        "503",
        "500",
        "closed",
        "error-event",
        "no-finish",
        "non-object",
        "bad-json",
        "ssh",
        "length",
        "huge-head",
    ],
)
async def test_broken_replies_are_typed_errors_without_the_key(
    raw: bytes, error: type[Exception], words: str
) -> None:
    async with Server(_reply(raw)) as server:
        backend = _backend(server.url, api_key=KEY)
        try:
            with pytest.raises(error, match=words) as caught:
                await _collect(backend)
        finally:
            await backend.aclose()
    assert KEY not in str(caught.value)
    assert getattr(caught.value, "url", None) == server.url  # the controller matches errors by URL
    if isinstance(caught.value, ServerBusy):
        assert caught.value.retry_after == 7.0


async def test_a_dead_server_is_unreachable_and_a_silent_one_times_out() -> None:
    dead = _backend("http://127.0.0.1:9")  # nothing listens on the discard port
    try:
        with pytest.raises(ServerUnreachable, match="cannot connect"):
            await _collect(dead)
    finally:
        await dead.aclose()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + _chunk(b"data: " + TOKEN + b"\n\n")
        )
        await writer.drain()
        await asyncio.sleep(5)

    async with Server(silent) as server:
        backend = _backend(server.url, read_timeout=0.3)
        try:
            with pytest.raises(ServerTimeout, match=r"sent nothing for 0\.3 s"):
                await _collect(backend)
        finally:
            await backend.aclose()


async def test_url_credentials_are_sent_as_basic_auth_and_masked_in_errors() -> None:
    requests: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await _request(reader))
        writer.write(_json_reply(500, {"error": {"message": "no"}}))
        await writer.drain()

    async with Server(handler) as server:
        url = server.url.replace("http://", "http://alice:pw-hunter2@")
        backend = _backend(url)
        try:
            with pytest.raises(ServerFailed) as caught:
                await _collect(backend)
        finally:
            await backend.aclose()
    assert "pw-hunter2" not in str(caught.value) and "***@127.0.0.1" in str(caught.value)
    assert b"authorization: basic " in requests[0].lower()
