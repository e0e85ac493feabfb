"""The relay's engine client: one vLLM server behind the `Backend` protocol, over `VLLMClient`.

The served model name is resolved once (`/v1/models`); requests go through the one vLLM client
(`vllm_client.py`: request bodies, endpoints, typed errors) and its transport (`transport.py`: one
aiohttp connection pool per server for token streams, feeds and short calls alike). The token
stream, the hot path, is parsed in one pass by `sse_fast.py`. Leaving the `stream()` iterator early
closes that connection, which makes vLLM abort the request.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from relaychat.backends.base import (
    CompletionRequest,
    ModelInfo,
    PromptScores,
    StreamChunk,
    StreamEnd,
)
from relaychat.backends.errors import ProtocolError, RequestRejected
from relaychat.backends.transport import Transport, Where, translate
from relaychat.backends.vllm_client import VLLMClient, completion_body, retry_after_s
from relaychat.redact import redact_url

__all__ = ["VLLMBackend", "retry_after_s"]


class VLLMBackend:
    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
        transport: Transport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.shown_url = redact_url(self.url)  # what messages say: never the URL's user:password
        if transport is None:
            self.client = VLLMClient.over_http(
                self.url, api_key=api_key, connect_timeout=connect_timeout, read_timeout=read_timeout
            )
        else:
            secrets = (api_key,) if api_key else ()
            self.client = VLLMClient(transport, Where(self.url, connect_timeout, read_timeout, secrets))
        self._model = model
        self._info: ModelInfo | None = None
        self._stop_support: dict[int, bool] = {}  # stop-list size -> accepted by the server

    def __repr__(self) -> str:
        return f"VLLMBackend({self.shown_url!r})"

    # -- metadata -------------------------------------------------------------------------------

    async def info(self) -> ModelInfo:
        if self._info is not None:
            return self._info
        models = await self.client.models()
        if not models:
            raise ProtocolError(f"{self.shown_url} serves no model", url=self.url)
        chosen = next((m for m in models if m["id"] == self._model), None) if self._model else models[0]
        if chosen is None:
            names = ", ".join(m["id"] for m in models)
            raise RequestRejected(
                f"{self.shown_url} does not serve a model named {self._model!r} (it serves: {names})",
                url=self.url,
            )
        try:
            self._info = ModelInfo(
                name=chosen["id"], max_model_len=chosen.get("max_model_len"), root=chosen.get("root")
            )
        except Exception as exc:
            raise translate(exc, self.client.where) from exc
        return self._info

    async def health(self) -> bool:
        return await self.client.health(timeout=2.0)

    async def metrics(self) -> dict[str, float]:
        """vLLM's Prometheus counters and gauges (histogram series summed per name), for benchmarks."""
        totals: dict[str, float] = {}
        for line in (await self.client.metrics()).splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            if "_bucket" in name:
                continue
            try:
                totals[name] = totals.get(name, 0.0) + float(value)
            except ValueError:
                continue
        return totals

    # -- generation -----------------------------------------------------------------------------

    async def _body(self, request: CompletionRequest, **extra: object) -> dict[str, object]:
        return completion_body(request, (await self.info()).name, **extra)

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk | StreamEnd, None]:
        body = await self._body(request, stream=True, stream_options={"include_usage": True})
        end = StreamEnd()
        async for chunk in self.client.stream(body, end):
            yield chunk
        if end.finish_reason is None:
            # Every complete vLLM stream names why it ended; without one the stream was cut short (a
            # proxy or server that closed the body early), and its text is not the model's whole reply.
            raise ProtocolError(
                f"{self.shown_url} ended the stream without a finish reason: the reply was cut short",
                url=self.url,
            )
        yield end

    async def reset_prefix_cache(self) -> bool:
        """Empty the server's prefix cache (vLLM dev mode only); False when the server does not allow it."""
        return await self.client.status("POST", "/reset_prefix_cache") == 200

    async def prefill(
        self, prompt: str | list[int], add_special_tokens: bool = True, route: str | None = None
    ) -> None:
        # vLLM wants max_tokens >= 1: one greedy token is the price of a prompt-only request.
        request = CompletionRequest(
            prompt=prompt, max_tokens=1, logprobs=None, temperature=0.0, add_special_tokens=add_special_tokens
        )
        await self.client.complete(await self._body(request, return_token_ids=False))

    async def accepts_stops(self, stops: list[str]) -> bool:
        if len(stops) in self._stop_support:
            return self._stop_support[len(stops)]
        probe = CompletionRequest(prompt="Hi", max_tokens=1, logprobs=None, stop=stops, temperature=0.0)
        try:
            await self.client.complete(await self._body(probe))
            accepted = True
        except RequestRejected as exc:
            if "stop" not in str(exc).lower():
                raise
            accepted = False
        self._stop_support[len(stops)] = accepted
        return accepted

    async def tokenize(self, text: str, add_special_tokens: bool = False) -> list[int]:
        info = await self.info()
        return await self.client.tokenize(info.name, text, add_special_tokens)

    async def score(self, prompt: str | list[int], top_k: int = 20) -> PromptScores:
        request = CompletionRequest(prompt=prompt, max_tokens=1, logprobs=None, temperature=0.0)
        reply = await self.client.complete(await self._body(request, prompt_logprobs=top_k))
        try:
            choice = reply["choices"][0]
            entries = choice["prompt_logprobs"]
            ids = choice.get("prompt_token_ids") or []
            tops: list[dict[str, float] | None] = []
            texts: list[str] = []
            for position, entry in enumerate(entries):
                if entry is None:
                    tops.append(None)
                    texts.append("")
                    continue
                # Keyed by token id, so tokens with equal text do not collapse (unlike streaming top-k).
                tops.append({tid: float(v["logprob"]) for tid, v in entry.items()})
                own = entry.get(str(ids[position])) if position < len(ids) else None
                texts.append(own.get("decoded_token", "") if own else "")
        except Exception as exc:
            raise translate(exc, self.client.where) from exc
        return PromptScores(token_ids=ids, top_logprobs=tops, tokens=texts)

    async def aclose(self) -> None:
        await self.client.aclose()
