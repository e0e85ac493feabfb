"""`VLLMBackend` with the one-pass SSE parser (`backends/sse_fast.py`), for the client-only bench.

`backends/vllm.py` is being reworked elsewhere (fault handling), so the faster stream is measured here
first; its body is what `VLLMBackend.stream` becomes when it is wired in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from relaychat.backends.base import CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.errors import BackendError
from relaychat.backends.sse_fast import stream_chunks
from relaychat.backends.vllm import VLLMBackend

SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}  # what httpx-sse sends


class FastSSEBackend(VLLMBackend):
    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk | StreamEnd]:
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
