"""`VLLMBackend` with the one-pass SSE parser (`backends/sse_fast.py`) and, in `FastHTTPBackend`, the
lean streaming HTTP client (`backends/http_stream.py`), for the client-only bench.

`backends/vllm.py` is being reworked elsewhere (fault handling), so the faster stream is measured here
first; its body is what `VLLMBackend.stream` becomes when it is wired in.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx

from relaychat.backends.base import CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.errors import BackendError, ServerFailed, ServerTimeout
from relaychat.backends.http_stream import StreamClient, supports
from relaychat.backends.sse_fast import stream_chunks
from relaychat.backends.vllm import VLLMBackend

SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}  # what httpx-sse sends


class FastSSEBackend(VLLMBackend):
    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk | StreamEnd, None]:
        body = await self._body(request, stream=True, stream_options={"include_usage": True})
        end = StreamEnd()
        try:
            async with self._client.stream(
                "POST", "/v1/completions", json=body, headers=SSE_HEADERS
            ) as response:
                await self._raise_for_status(response)
                async for chunk in stream_chunks(response.aiter_bytes(), self.url, end):
                    yield chunk
        except BackendError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc
        yield end


class FastHTTPBackend(VLLMBackend):
    """Streams over `backends/http_stream.py` (asyncio streams) and the one-pass parser; the other
    calls (info, tokenize, prefill, ...) stay on httpx, as do `https://` servers."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        api_key = kwargs.get("api_key")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._streams = (
            StreamClient(
                self.url,
                connect_timeout=kwargs.get("connect_timeout", 5.0),
                read_timeout=kwargs.get("read_timeout", 300.0),
                headers=headers,
            )
            if supports(self.url)
            else None
        )

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk | StreamEnd, None]:
        if self._streams is None:
            async for item in FastSSEBackend.stream(self, request):  # type: ignore[arg-type]
                yield item
            return
        body = await self._body(request, stream=True, stream_options={"include_usage": True})
        end = StreamEnd()
        try:
            response = await self._streams.post("/v1/completions", json.dumps(body).encode(), SSE_HEADERS)
            async with aclosing(response.body) as raw:  # type: ignore[type-var]
                if response.status >= 400:
                    content = b"".join([part async for part in raw])
                    await self._raise_for_status(httpx.Response(response.status, content=content))
                async for chunk in stream_chunks(raw, self.url, end):
                    yield chunk
                async for _ in raw:  # the body's end after [DONE]: then the connection is reused
                    pass
        except BackendError:
            raise
        except Exception as exc:
            raise self._translate_stream(exc) from exc
        yield end

    def _translate_stream(self, exc: Exception) -> BackendError:
        """The raw client's errors as the backend's typed ones (httpx's are handled by `_translate`)."""
        if isinstance(exc, ConnectionRefusedError | socket.gaierror):
            return self._translate(httpx.ConnectError(str(exc)))
        if isinstance(exc, TimeoutError):
            return ServerTimeout(f"{self.url} did not answer in time", url=self.url)
        if isinstance(exc, OSError | asyncio.IncompleteReadError):
            return ServerFailed(f"{self.url} closed the connection mid-stream: {exc!r}", url=self.url)
        return self._translate(exc)

    async def aclose(self) -> None:
        if self._streams is not None:
            await self._streams.aclose()
        await super().aclose()
