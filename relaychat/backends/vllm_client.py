"""vLLM's OpenAI-compatible endpoints, over any `Transport`: the one vLLM client in RelayChat.

The relay's backend (`VLLMBackend`), the servers' health checks and warm-up (`serving.manager`), the
cost probe (`serving.cost_probe`) and bench's probes all talk to vLLM through this: request bodies
(`completion_body`: vLLM's extras such as `top_k`, `min_tokens`, `return_token_ids` at the top level
of the JSON body), the endpoints, the token stream parsed by `sse_fast`, and every failure as a typed
`BackendError` (HTTP status replies here, library errors in `transport.ERRORS`).

`blocking(...)` runs a client call from synchronous code (the server manager, the cost probe).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from time import time
from typing import Any, TypeVar

from relaychat.backends.base import CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.errors import (
    BackendError,
    ProtocolError,
    RequestRejected,
    ServerBusy,
    ServerFailed,
    explain_rejection,
)
from relaychat.backends.sse_fast import MidStreamError, SSEData, stream_chunks
from relaychat.backends.transport import HttpTransport, Transport, Where, translate

MAX_RETRY_AFTER_S = 600.0  # a longer Retry-After is honoured only up to this
T = TypeVar("T")


def completion_body(request: CompletionRequest, model: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of one `/v1/completions` request; `extra` fields go in as they are."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": request.prompt,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "return_token_ids": True,
        "add_special_tokens": request.add_special_tokens,
    }
    if request.min_tokens:
        body["min_tokens"] = request.min_tokens
    if request.stop:
        body["stop"] = request.stop
        body["include_stop_str_in_output"] = request.include_stop_str_in_output
    if request.logprobs is not None:
        body["logprobs"] = request.logprobs
    if request.top_k is not None:
        body["top_k"] = request.top_k
    if request.seed is not None:
        body["seed"] = request.seed
    body.update(extra)
    return body


class VLLMClient:
    """The endpoints of one vLLM server. Replies are untrusted: a malformed one is a ProtocolError."""

    def __init__(self, transport: Transport, where: Where | None = None) -> None:
        self.transport = transport
        self.where = where or Where(transport.url)

    @classmethod
    def over_http(
        cls,
        url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
    ) -> VLLMClient:
        transport = HttpTransport(
            url, api_key=api_key, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        secrets = (api_key,) if api_key else ()
        return cls(transport, Where(transport.url, connect_timeout, read_timeout, secrets))

    @property
    def url(self) -> str:
        return self.transport.url

    # -- one exchange ---------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Send a request, check its status, and return its JSON (None for an empty body)."""
        data = json.dumps(body).encode() if body is not None else None
        try:
            reply = await self.transport.request(method, path, data, timeout)
            if reply.status >= 400:
                raise self.status_error(reply.status, reply.headers, reply.body)
            return reply.json() if reply.body.strip() else None
        except Exception as exc:
            raise translate(exc, self.where) from exc

    async def text(self, path: str, timeout: float | None = None) -> str:
        try:
            reply = await self.transport.request("GET", path, None, timeout)
            if reply.status >= 400:
                raise self.status_error(reply.status, reply.headers, reply.body)
            return reply.text
        except Exception as exc:
            raise translate(exc, self.where) from exc

    async def status(self, method: str, path: str, timeout: float | None = None) -> int:
        """Only the status code of a request (health, dev-mode endpoints)."""
        try:
            return (await self.transport.request(method, path, None, timeout)).status
        except Exception as exc:
            raise translate(exc, self.where) from exc

    def status_error(self, status: int, headers: Mapping[str, str], body: bytes) -> BackendError:
        """The typed error for an HTTP error reply (`headers` looked up by lower-case name)."""
        where = self.where
        detail = where.clean(_error_detail(body.decode("utf-8", "replace")))
        if status in (429, 503):
            wait = retry_after_s(headers.get("retry-after"))
            when = f"; it asks to retry in {wait:g} s" if wait is not None else ""
            return ServerBusy(
                f"{where.shown} is busy (HTTP {status}): {detail[:400]}{when}",
                url=where.url,
                status=status,
                retry_after=wait,
            )
        if status < 500:
            return RequestRejected(
                explain_rejection(status, detail, where.shown), url=where.url, status=status
            )
        return ServerFailed(
            f"{where.shown} failed (HTTP {status}): {detail[:400]}", url=where.url, status=status
        )

    # -- endpoints ------------------------------------------------------------------------------

    async def health(self, timeout: float = 2.0) -> bool:
        try:
            return await self.status("GET", "/health", timeout) == 200
        except BackendError:
            return False

    async def models(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """`/v1/models`' entries (each a dict with at least a string `id`)."""
        data = await self.call("GET", "/v1/models", timeout=timeout)
        try:
            models = data["data"]
            if not isinstance(models, list) or not all(isinstance(m.get("id"), str) for m in models):
                raise ValueError("the model list is not a list of named models")
        except Exception as exc:
            raise translate(exc, self.where) from exc
        return models

    async def metrics(self, timeout: float | None = None) -> str:
        """vLLM's Prometheus text."""
        return await self.text("/metrics", timeout)

    async def tokenize(self, model: str, text: str, add_special_tokens: bool = False) -> list[int]:
        data = await self.call(
            "POST", "/tokenize", {"model": model, "prompt": text, "add_special_tokens": add_special_tokens}
        )
        try:
            return [int(t) for t in data["tokens"]]
        except Exception as exc:
            raise translate(exc, self.where) from exc

    async def complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A `/v1/completions` request answered in one reply."""
        data = await self.call("POST", "/v1/completions", body)
        if not isinstance(data, dict):
            raise ProtocolError(
                f"{self.where.shown} sent a completion that is not a JSON object", url=self.url
            )
        return data

    async def stream(
        self, body: Mapping[str, Any], end: StreamEnd | None = None
    ) -> AsyncGenerator[StreamChunk, None]:
        """A streamed `/v1/completions` request's chunks; `end` gets its usage and finish reason.

        Leaving early closes the connection, which makes vLLM abort the request."""
        end = end if end is not None else StreamEnd()
        data = json.dumps(body).encode()
        try:
            async with self.transport.stream("/v1/completions", data) as reply:
                if reply.status >= 400:
                    raise self.status_error(reply.status, reply.headers, await reply.read())
                async for chunk in stream_chunks(reply.chunks(), end):
                    yield chunk
        except BackendError:
            raise
        except MidStreamError as exc:  # vLLM reports mid-stream failures as an error object
            raise ServerFailed(
                self.where.clean(f"{self.where.shown} failed mid-stream: {exc}"), url=self.url
            ) from None
        except Exception as exc:
            raise translate(exc, self.where) from exc

    async def stream_payloads(self, body: Mapping[str, Any]) -> list[bytes]:
        """A streamed request's raw SSE `data:` payloads, `[DONE]` included (to record streams)."""
        framing = SSEData()
        payloads: list[bytes] = []
        try:
            async with self.transport.stream("/v1/completions", json.dumps(body).encode()) as reply:
                if reply.status >= 400:
                    raise self.status_error(reply.status, reply.headers, await reply.read())
                async for data in reply.chunks():
                    payloads.extend(framing.feed(data))
        except Exception as exc:
            raise translate(exc, self.where) from exc
        return payloads

    async def aclose(self) -> None:
        await self.transport.aclose()


# -- from synchronous code --------------------------------------------------------------------------


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine `make()` to its end from synchronous code, on an event loop of its own (in a
    thread of its own when this thread already runs one)."""

    async def run() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run())
    box: list[T] = []
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            box.append(asyncio.run(run()))
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=in_thread, daemon=True)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return box[0]


def blocking(url: str, call: Callable[[VLLMClient], Awaitable[T]], timeout: float = 5.0) -> T:
    """`call(client)` on a short-lived client of `url`, from synchronous code (health checks and
    warm-up while servers start, probes): connections opened and closed within the call."""

    async def run() -> T:
        client = VLLMClient.over_http(url, connect_timeout=timeout, read_timeout=timeout)
        try:
            return await call(client)
        finally:
            await client.aclose()

    return run_sync(run)


def _error_detail(body: str) -> str:
    """The message of a vLLM error body: new style `{"error": {"message"}}`, old `{"message"}`."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return body
    if not isinstance(data, dict):
        return body
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(data.get("message"), str):
        return data["message"]
    return str(error) if error else body


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped; None when absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
