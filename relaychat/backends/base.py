"""The one small protocol every engine client speaks, and the typed values that cross it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class CompletionRequest(BaseModel):
    """One `/v1/completions` call: a prompt as text or as token ids, plus sampling and stops."""

    prompt: str | list[int]
    max_tokens: int
    min_tokens: int = 0
    stop: list[str] = Field(default_factory=list)
    include_stop_str_in_output: bool = True
    logprobs: int | None = 2
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int | None = None
    seed: int | None = None
    add_special_tokens: bool = True


class Token(BaseModel):
    """One generated token: its exact text slice, id and top-k logprobs."""

    text: str
    id: int | None = None
    top_logprobs: dict[str, float] | None = None


class StreamChunk(BaseModel):
    type: Literal["chunk"] = "chunk"
    text: str
    tokens: list[Token]
    prompt_token_ids: list[int] | None = None


class StreamEnd(BaseModel):
    type: Literal["end"] = "end"
    finish_reason: str | None = None  # "stop", "length", or None when the client closed it
    stop_reason: str | int | None = None  # the stop string that fired, or None for EOS
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ModelInfo(BaseModel):
    name: str
    max_model_len: int | None = None
    root: str | None = None


class PromptScores(BaseModel):
    """prompt_logprobs of one prompt: per position, the top-k {token text or id: logprob}."""

    token_ids: list[int]
    top_logprobs: list[dict[str, float] | None]
    tokens: list[str]


@runtime_checkable
class Backend(Protocol):
    """An engine endpoint serving one model."""

    url: str

    async def info(self) -> ModelInfo:
        """Served model name and limits; resolved once and cached."""
        ...

    def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk | StreamEnd, None]:
        """Stream a completion; closing the iterator early must abort the request on the server."""
        ...

    async def score(self, prompt: str | list[int], top_k: int = 20) -> PromptScores:
        """Top-k logprobs of every prompt position (one forward pass, nothing generated)."""
        ...

    async def tokenize(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """The server's own tokenization of `text`."""
        ...

    async def prefill(
        self, prompt: str | list[int], add_special_tokens: bool = True, route: str | None = None
    ) -> None:
        """Make the server read `prompt` into its prefix cache (one throw-away token is generated).

        `route`: the text whose continuation these token ids start, for backends that pick a server by
        prompt (replicas); the others ignore it."""
        ...

    async def accepts_stops(self, stops: list[str]) -> bool:
        """Whether the server takes this many stop strings in one request (asked once, then cached)."""
        ...

    async def health(self) -> bool: ...

    async def aclose(self) -> None: ...
