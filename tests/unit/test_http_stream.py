"""The lean streaming HTTP client: chunked bodies at any read boundary, keep-alive, early close, errors."""

from __future__ import annotations

import asyncio
import random

import pytest

from relaychat.backends.base import CompletionRequest
from relaychat.backends.errors import RequestRejected, ServerFailed, ServerUnreachable
from relaychat.backends.http_stream import HTTPStreamError, StreamClient, _chunked, supports
from relaychat.backends.vllm import VLLMBackend
from relaychat.bench import fake_vllm
from relaychat.bench.fast_backend import FastHTTPBackend


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _feed(pieces: list[bytes]) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for piece in pieces:
        reader.feed_data(piece)
    reader.feed_eof()
    return reader


async def test_dechunking_at_any_read_boundary() -> None:
    rng = random.Random(5)
    parts = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))) for _ in range(60)]
    raw = b"".join(_chunk(p) for p in parts) + b"0\r\n\r\n"
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(raw)), 40))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        got = [part async for part in _chunked(await _feed(pieces), 5.0)]
        assert b"".join(got) == b"".join(parts)


async def test_a_body_cut_short_or_garbled_raises() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        [p async for p in _chunked(await _feed([_chunk(b"abc")[:-3]]), 5.0)]
    with pytest.raises(HTTPStreamError):
        [p async for p in _chunked(await _feed([b"zz\r\nabc\r\n"]), 5.0)]


def test_only_plain_http_is_handled() -> None:
    assert supports("http://127.0.0.1:8000") and not supports("https://gpu-box:8000")
    with pytest.raises(ValueError):
        StreamClient("https://gpu-box")


@pytest.fixture
async def large_url():  # type: ignore[no-untyped-def]
    started = await fake_vllm.start({"large": 0})
    yield f"http://127.0.0.1:{fake_vllm.port_of(started['large'])}"
    started["large"].close()


async def test_same_stream_as_the_httpx_backend() -> None:
    request = CompletionRequest(prompt=[1, 2], max_tokens=30)
    results = []
    for kind in (VLLMBackend, FastHTTPBackend):
        started = await fake_vllm.start({"large": 0})  # fresh: the same recording from the same start
        backend = kind(f"http://127.0.0.1:{fake_vllm.port_of(started['large'])}")
        try:
            results.append([item.model_dump() async for item in backend.stream(request)])
        finally:
            await backend.aclose()
            started["large"].close()
    assert results[0] == results[1]


async def test_connections_are_reused_and_an_early_close_drops_one(large_url: str) -> None:
    backend = FastHTTPBackend(large_url)
    request = CompletionRequest(prompt="x", max_tokens=5)
    try:
        [item async for item in backend.stream(request)]
        assert backend._streams is not None and len(backend._streams._idle) == 1
        [item async for item in backend.stream(request)]
        assert len(backend._streams._idle) == 1  # the same connection went back
        stream = backend.stream(CompletionRequest(prompt="x", max_tokens=200))
        await anext(stream)
        await stream.aclose()  # what the relay does at a cut: the connection must not be reused
        assert len(backend._streams._idle) == 0
    finally:
        await backend.aclose()


async def test_rejections_and_dead_servers_become_typed_errors(large_url: str) -> None:
    backend = FastHTTPBackend(large_url)
    try:
        with pytest.raises(RequestRejected, match="stop"):
            [
                i
                async for i in backend.stream(
                    CompletionRequest(prompt="x", max_tokens=5, stop=list("abcdef"))
                )
            ]
    finally:
        await backend.aclose()
    dead = FastHTTPBackend("http://127.0.0.1:9")  # nothing listens on the discard port
    try:
        with pytest.raises(ServerUnreachable):
            await _raise_via(dead)
    finally:
        await dead.aclose()


async def _raise_via(backend: FastHTTPBackend) -> None:
    try:
        assert backend._streams is not None
        await backend._streams.post("/v1/completions", b"{}")
    except Exception as exc:
        raise backend._translate_stream(exc) from exc


async def test_a_server_closing_mid_stream_is_server_failed() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + _chunk(b"data: {}\n\n"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    backend = FastHTTPBackend(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", model="m")
    backend._info = type("I", (), {"name": "m"})()  # type: ignore[assignment]
    try:
        with pytest.raises(ServerFailed, match="mid-stream"):
            [i async for i in backend.stream(CompletionRequest(prompt="x", max_tokens=5))]
    finally:
        await backend.aclose()
        server.close()


@pytest.mark.parametrize(
    "reply",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: lots\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx: " + b"y" * 300_000,
    ],
)
async def test_a_reply_that_is_not_http_is_a_protocol_error(reply: bytes) -> None:
    from relaychat.backends.errors import ProtocolError

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    backend = FastHTTPBackend(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", model="m")
    backend._info = type("I", (), {"name": "m"})()  # type: ignore[assignment]
    try:
        with pytest.raises(ProtocolError):
            [i async for i in backend.stream(CompletionRequest(prompt="x", max_tokens=5))]
    finally:
        await backend.aclose()
        server.close()
