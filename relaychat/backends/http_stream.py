"""A lean HTTP/1.1 client for streamed POSTs on plain `http://`: asyncio streams, keep-alive, chunked.

The client-only bench's profile puts a third of the client's CPU per token in the generic HTTP stack
(httpx -> httpcore -> h11 -> anyio: several layers of generators, context managers and state machines
per network read). A streamed completion needs none of that: one request out, then raw reads of a
chunked body. This module does exactly that on asyncio streams, with a small pool of kept-alive
connections per server. Closing the body iterator early closes the connection (vLLM aborts the
request). `https://`, proxies and the like stay with httpx: `supports(url)` says which is which.

Errors: `OSError`/`ConnectionError` (connect, reset), `asyncio.IncompleteReadError` (server closed
mid-body), `TimeoutError` (no byte for `read_timeout`), `HTTPStreamError` (a reply that is not HTTP).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_READ = 65536


class HTTPStreamError(ValueError):
    """The server's reply is not valid HTTP/1.1 framing."""


def supports(url: str) -> bool:
    return urlsplit(url).scheme == "http"


@dataclass
class StreamResponse:
    status: int
    headers: dict[str, str]
    body: AsyncIterator[bytes]  # decoded (de-chunked) body bytes, as they arrive

    async def read(self) -> bytes:
        return b"".join([part async for part in self.body])


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


@dataclass
class StreamClient:
    """Kept-alive connections to one `http://host:port` server."""

    url: str
    connect_timeout: float = 5.0
    read_timeout: float = 300.0
    headers: dict[str, str] = field(default_factory=dict)
    max_idle: int = 128

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"StreamClient needs an http:// URL, not {self.url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.base = parts.path.rstrip("/")
        self._idle: list[_Conn] = []
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        self._head = f"Host: {self.host}:{self.port}\r\n{extra}"

    async def _connect(self) -> _Conn:
        while self._idle:
            conn = self._idle.pop()
            if not conn.writer.is_closing() and not conn.reader.at_eof():
                return conn
            conn.writer.close()
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=_READ * 4)
        return _Conn(reader, writer)

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> StreamResponse:
        """Send one POST; the response's body is streamed (read it to the end, or close it)."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (
            f"POST {self.base}{path} HTTP/1.1\r\n{self._head}{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        conn = await self._connect()
        try:
            conn.writer.write(request)
            async with asyncio.timeout(self.read_timeout):
                try:
                    head = await conn.reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    raise HTTPStreamError("the response head is larger than 256 KB") from None
            status, response_headers = _parse_head(head)
        except BaseException:
            conn.writer.close()
            raise
        return StreamResponse(status, response_headers, self._body(conn, response_headers))

    async def _body(self, conn: _Conn, headers: dict[str, str]) -> AsyncIterator[bytes]:
        reusable = False
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                async for part in _chunked(conn.reader, self.read_timeout):
                    yield part
            else:
                length = int(headers.get("content-length", "0"))  # not a number: ValueError
                async with asyncio.timeout(self.read_timeout):
                    data = await conn.reader.readexactly(length)
                if data:
                    yield data
            reusable = headers.get("connection", "").lower() != "close"
        finally:
            if reusable and len(self._idle) < self.max_idle:
                self._idle.append(conn)
            else:
                conn.writer.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.writer.close()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise HTTPStreamError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(rest[:3]), headers


async def _chunked(reader: asyncio.StreamReader, timeout: float) -> AsyncIterator[bytes]:
    """De-chunk a body from large reads: one yield per network read, not per HTTP chunk."""
    buffer = b""
    while True:
        out: list[bytes] = []
        at = 0
        while True:  # take every whole chunk the buffer holds
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                break
            size_text = buffer[at:line_end].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HTTPStreamError(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                end = buffer.find(b"\r\n\r\n", line_end)  # trailers end with a blank line
                if end < 0:
                    break
                if out:
                    yield b"".join(out)
                return
            start = line_end + 2
            if len(buffer) < start + size + 2:
                break
            out.append(buffer[start : start + size])
            at = start + size + 2
        buffer = buffer[at:]
        if out:
            yield b"".join(out)
        async with asyncio.timeout(timeout):
            data = await reader.read(_READ)
        if not data:
            raise asyncio.IncompleteReadError(buffer, None)
        buffer += data
