"""How the vLLM client reaches a server: the one seam between RelayChat and an HTTP library.

As httpx layers its client over a transport, `VLLMClient` (request bodies, endpoints, reply parsing)
sits on a `Transport` that only moves bytes: send a request and read the whole reply, or send one and
read its body as it arrives (a token stream). Two transports:
- `HttpTransport`: aiohttp, one connection pool per server for everything (token streams, feeds,
  tokenize, metrics, health). aiohttp's C HTTP parser is the cheaper per network read of the two
  libraries RelayChat used (see docs/performance.md), and one pool means a feed reuses a connection a
  stream left idle instead of opening its own.
- `MemoryTransport`: replies from a function in the same process, for unit tests that need no server.

The library's errors become the backend's typed errors in one table, `ERRORS`, and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.request import getproxies

import aiohttp
import pydantic

from relaychat.backends.errors import (
    BackendError,
    ProtocolError,
    ServerFailed,
    ServerTimeout,
    ServerUnreachable,
)
from relaychat.inert import inert
from relaychat.redact import redact_text, redact_url


@dataclass(frozen=True)
class Reply:
    """A whole HTTP reply (header names in lower case)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class StreamReply(Protocol):
    """An HTTP reply whose body is read as it arrives."""

    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        """The body, in the pieces the network delivered."""
        ...

    async def read(self) -> bytes:
        """The rest of the body at once (an error reply's)."""
        ...


class Transport(Protocol):
    """Moves bytes to and from one server; knows nothing of vLLM."""

    url: str

    async def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float | None = None
    ) -> Reply: ...

    def stream(self, path: str, body: bytes) -> AbstractAsyncContextManager[StreamReply]:
        """POST `body` (JSON) and read the reply as it comes; leaving the block early closes it."""
        ...

    async def aclose(self) -> None: ...


# -- errors -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """What an error message says about the server: its URL (credentials masked), the timeouts
    that were set, and the secrets to mask in anything a server or library wrote."""

    url: str
    connect_timeout: float = 5.0
    read_timeout: float = 300.0
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def shown(self) -> str:
        return redact_url(self.url)

    def clean(self, message: str) -> str:
        return inert(redact_text(message, self.secrets))  # a server's words: shown, never interpreted


def _connect_timeout(where: Where, exc: BaseException) -> BackendError:
    return ServerTimeout(
        f"{where.shown} did not accept a connection in time (connect timeout; "
        "raise it with --connect-timeout or `connect_timeout` in the settings)",
        url=where.url,
    )


def _unreachable(where: Where, exc: BaseException) -> BackendError:
    return ServerUnreachable(
        f"cannot connect to {where.shown}: is the server running? "
        "(`relaychat serve --profile cpu-demo` starts the demo servers)",
        url=where.url,
    )


def _silent(where: Where, exc: BaseException) -> BackendError:
    return ServerTimeout(
        f"{where.shown} sent nothing for {where.read_timeout:g} s ({type(exc).__name__}; "
        "raise it with --read-timeout or `read_timeout` in the settings)",
        url=where.url,
    )


def _cut(where: Where, exc: BaseException) -> BackendError:
    return ServerFailed(where.clean(f"{where.shown} closed the connection mid-stream: {exc}"), url=where.url)


def _not_http(where: Where, exc: BaseException) -> BackendError:
    message = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
    return ProtocolError(
        where.clean(f"{where.shown} sent a reply that is not HTTP: {message}"), url=where.url
    )


def _bad_event(where: Where, exc: BaseException) -> BackendError:
    # Only pydantic's own words: the input and its location may hold the server's text.
    assert isinstance(exc, pydantic.ValidationError)
    first = exc.errors(include_url=False, include_input=False)[0]
    if not first["loc"] and first["type"] != "json_invalid":
        return ProtocolError(f"{where.shown} sent a stream event that is not a JSON object", url=where.url)
    return ProtocolError(
        f"{where.shown} sent a stream event of the wrong shape: {first['msg']}", url=where.url
    )


def _unexpected(where: Where, exc: BaseException) -> BackendError:
    return ProtocolError(
        where.clean(f"{where.shown} sent an unexpected reply: {type(exc).__name__}: {exc}"), url=where.url
    )


ErrorRule = tuple[tuple[type[BaseException], ...], Callable[[Where, BaseException], BackendError]]

# First match wins (a connect timeout is also a connection error and a TimeoutError).
ERRORS: tuple[ErrorRule, ...] = (
    ((aiohttp.ConnectionTimeoutError,), _connect_timeout),
    ((aiohttp.ClientConnectorError,), _unreachable),
    ((TimeoutError,), _silent),
    ((aiohttp.ClientPayloadError, aiohttp.ClientConnectionError), _cut),
    ((aiohttp.ClientResponseError,), _not_http),  # aiohttp's parser: the reply is not HTTP
    ((pydantic.ValidationError,), _bad_event),  # a stream event, parsed by `sse_fast`
    ((json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError), _unexpected),
)


def translate(exc: BaseException, where: Where) -> BackendError:
    """The typed error for a library's exception (or a malformed reply's); others propagate."""
    if isinstance(exc, BackendError):
        return exc
    for types, make in ERRORS:
        if isinstance(exc, types):
            return make(where, exc)
    raise exc


# -- aiohttp ----------------------------------------------------------------------------------------


class _AiohttpStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in response.headers.items()}

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    async def read(self) -> bytes:
        return await self._response.read()

    async def drain(self) -> None:
        """Read to the body's end, so the connection goes back to the pool for the next request."""
        while await self._response.content.readany():
            pass


class HttpTransport:
    """aiohttp, one kept-alive connection pool per server for streams and short calls alike."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Content-Type": "application/json"} | (
            {"Authorization": f"Bearer {api_key}"} if api_key else {}
        )
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None  # made on first use: it needs a running loop

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # No pool cap: the relay bounds its streams itself (early starts can double them).
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=300),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self._connect_timeout, sock_read=self._read_timeout
                ),
                # Proxy variables, as other HTTP clients honour them; only when set, since trusting
                # the environment also costs a thread hop per request (a netrc lookup).
                trust_env=bool(getproxies()),
                cookie_jar=aiohttp.DummyCookieJar(),  # vLLM sets no cookies: skip the per-request filter
            )
        return self._session

    async def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float | None = None
    ) -> Reply:
        limit = aiohttp.ClientTimeout(total=timeout) if timeout is not None else None
        async with self._pool().request(
            method, self.url + path, data=body, headers=self._headers, timeout=limit
        ) as response:
            data = await response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.headers.items()}, data)

    @asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[StreamReply]:
        headers = self._headers | {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        async with self._pool().post(self.url + path, data=body, headers=headers) as response:
            reply = _AiohttpStream(response)
            yield reply
            if reply.status < 400:
                await reply.drain()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


# -- in memory --------------------------------------------------------------------------------------


@dataclass
class Sent:
    """One request a `MemoryTransport` received."""

    method: str
    path: str
    body: bytes | None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Answer = tuple[int, bytes | Iterable[bytes]]  # status, and a body whole or in pieces
Handler = Callable[[Sent], Answer | Awaitable[Answer]]


class _MemoryStream:
    def __init__(self, status: int, body: bytes | Iterable[bytes]) -> None:
        self.status = status
        self.headers: Mapping[str, str] = {}
        self._body = body

    async def chunks(self) -> AsyncIterator[bytes]:
        for piece in [self._body] if isinstance(self._body, bytes) else self._body:
            yield piece

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.chunks()])


class MemoryTransport:
    """Answers from `handler(Sent) -> (status, body)` in this process; records what it was sent.

    A body given as an iterable of bytes is delivered piece by piece, lazily (a test's fake clock can
    move as a stream is read)."""

    def __init__(self, handler: Handler, url: str = "http://memory") -> None:
        self.url = url
        self.handler = handler
        self.sent: list[Sent] = []
        self.closed = False

    async def _answer(self, sent: Sent) -> Answer:
        self.sent.append(sent)
        answer = self.handler(sent)
        return await answer if isinstance(answer, Awaitable) else answer

    async def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float | None = None
    ) -> Reply:
        status, content = await self._answer(Sent(method, path, body))
        whole = content if isinstance(content, bytes) else b"".join(content)
        return Reply(status, {}, whole)

    @asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[StreamReply]:
        status, content = await self._answer(Sent("POST", path, body))
        yield _MemoryStream(status, content)

    async def aclose(self) -> None:
        self.closed = True
