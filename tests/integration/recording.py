"""A pass-through wrapper around a real backend that records what crossed the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from relaychat.backends.base import CompletionRequest, ModelInfo, PromptScores, StreamChunk, StreamEnd
from relaychat.backends.vllm import VLLMBackend


@dataclass
class Exchange:
    request: CompletionRequest
    tokens: int = 0
    ends: list[StreamEnd] = field(default_factory=list)
    prompt_token_ids: list[int] | None = None


class Recording:
    def __init__(self, inner: VLLMBackend) -> None:
        self.inner = inner
        self.url = inner.url
        self.exchanges: list[Exchange] = []
        self.tokenized: list[tuple[str, list[int]]] = []

    def __getattr__(self, name: str) -> object:
        """Anything not recorded (accepts_stops, metrics, ...) goes straight to the real backend."""
        return getattr(self.inner, name)

    async def info(self) -> ModelInfo:
        return await self.inner.info()

    async def health(self) -> bool:
        return await self.inner.health()

    async def tokenize(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = await self.inner.tokenize(text, add_special_tokens)
        self.tokenized.append((text, ids))
        return ids

    async def prefill(
        self, prompt: str | list[int], add_special_tokens: bool = True, route: str | None = None
    ) -> None:
        await self.inner.prefill(prompt, add_special_tokens, route)

    async def score(self, prompt: str | list[int], top_k: int = 20) -> PromptScores:
        return await self.inner.score(prompt, top_k)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk | StreamEnd]:
        exchange = Exchange(request)
        self.exchanges.append(exchange)
        async for item in self.inner.stream(request):
            if isinstance(item, StreamChunk):
                exchange.tokens += len(item.tokens)
                if item.prompt_token_ids:
                    exchange.prompt_token_ids = item.prompt_token_ids
            else:
                exchange.ends.append(item)
            yield item

    async def aclose(self) -> None:
        await self.inner.aclose()
