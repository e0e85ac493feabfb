"""A deterministic backend for state-machine and UI tests, and for demos without a server.

Each call to `stream()` takes the next scripted reply (a list of token texts) and streams it token by
token. Requests are recorded, so tests can check what the relay sent (prompts, stops, budgets), and
`closed_early` tells whether the relay hung up before the end, as it does at a cut.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field

from relaychat.backends.base import (
    CompletionRequest,
    ModelInfo,
    PromptScores,
    StreamChunk,
    StreamEnd,
    Token,
)
from relaychat.backends.errors import BackendError, RequestRejected


@dataclass
class Reply:
    """One scripted completion: its tokens, how it ends, and optionally a failure."""

    tokens: list[str]
    finish_reason: str = "stop"  # "stop" (EOS) or "length"
    stop_reason: int | None = None  # a stop token id, as vLLM reports an EOS from generation_config
    margin: float = 0.5  # p1 - p2 reported for every token
    fail_after: int | None = None  # raise `error` after this many tokens
    error: BackendError | None = None


def words(text: str) -> list[str]:
    """Split text into word-like tokens (" word", ",", "\\n\\n") the way BPE tokenizers roughly do."""
    import re

    return re.findall(r"</?think>|\n+| ?[A-Za-z']+| ?\d| ?[^\sA-Za-z\d]| +", text)


@dataclass
class ScriptedBackend:
    url: str
    replies: list[Reply] = field(default_factory=list)
    name: str = "scripted"
    delay: float = 0.0  # seconds between tokens
    max_model_len: int | None = None
    vocab: dict[str, int] = field(default_factory=dict)
    requests: list[CompletionRequest] = field(default_factory=list)
    closed_early: list[bool] = field(default_factory=list)
    prefills: list[str | list[int]] = field(default_factory=list)
    stops_fired: list[str] = field(default_factory=list)  # stop strings that ended a request
    prefill_delay: float = 0.0
    max_stops: int | None = 4  # vLLM's default cap; None = unlimited (server-side cue path)
    default: Reply | None = None  # used when the script runs out
    # Replies chosen by the prompt's last characters, like a seeded server answers the same prompt the
    # same way: for requests sent ahead of time (early starts), which the script cannot order.
    replies_after: dict[str, Reply] = field(default_factory=dict)

    def add(self, *replies: Reply | str | Iterable[str]) -> ScriptedBackend:
        for reply in replies:
            if isinstance(reply, str):
                reply = Reply(words(reply))
            elif not isinstance(reply, Reply):
                reply = Reply(list(reply))
            self.replies.append(reply)
        return self

    def _decode(self, ids: list[int]) -> str:
        texts = {i: t for t, i in self.vocab.items()}
        return "".join(texts.get(i, "") for i in ids)

    def _id(self, text: str) -> int:
        return self.vocab.setdefault(text, len(self.vocab) + 10)

    async def info(self) -> ModelInfo:
        return ModelInfo(name=self.name, max_model_len=self.max_model_len)

    async def health(self) -> bool:
        return True

    async def tokenize(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [self._id(piece) for piece in words(text)]

    async def accepts_stops(self, stops: list[str]) -> bool:
        return self.max_stops is None or len(stops) <= self.max_stops

    async def prefill(
        self, prompt: str | list[int], add_special_tokens: bool = True, route: str | None = None
    ) -> None:
        self.prefills.append(prompt)  # the server has it from here on, even if it is later aborted
        if self.prefill_delay:
            await asyncio.sleep(self.prefill_delay)

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk | StreamEnd, None]:
        self.requests.append(request)
        prompt = request.prompt if isinstance(request.prompt, str) else self._decode(request.prompt)
        if self.max_model_len is not None:  # like vLLM: prompt + max_tokens must fit the window
            count = len(request.prompt) if isinstance(request.prompt, list) else len(words(prompt))
            if count + request.max_tokens > self.max_model_len:
                raise RequestRejected(
                    f"This model's maximum context length is {self.max_model_len} tokens. However, you "
                    f"requested {count + request.max_tokens} tokens ({count} in the messages, "
                    f"{request.max_tokens} in the completion).",
                    url=self.url,
                    status=400,
                )
        keyed = next((r for end, r in self.replies_after.items() if prompt.endswith(end)), None)
        if keyed is not None:
            reply = keyed
        elif self.replies:
            reply = self.replies.pop(0)
        elif self.default is not None:
            reply = self.default
        else:
            raise AssertionError(f"{self.name}: no scripted reply left for request {len(self.requests)}")
        self.closed_early.append(True)
        slot = len(self.closed_early) - 1
        p1 = (1 + reply.margin) / 2
        top = {"a": _log(p1), "b": _log(1 - p1)}
        produced = 0
        output = ""
        for text in reply.tokens[: request.max_tokens]:
            if reply.fail_after is not None and produced >= reply.fail_after:
                raise reply.error or BackendError("scripted failure", url=self.url)
            if self.delay:
                await asyncio.sleep(self.delay)
            produced += 1
            output += text
            token = Token(text=text, id=self._id(text), top_logprobs=top)
            fired = _stop_fired(output, len(text), request) if produced >= request.min_tokens else None
            if fired is not None:
                # Like vLLM: the text is cut right after the stop string, the token is whole.
                stop, cut = fired
                self.stops_fired.append(stop)
                visible = text[: len(text) - (len(output) - cut)]
                yield StreamChunk(text=visible, tokens=[token])
                self.closed_early[slot] = False
                yield StreamEnd(finish_reason="stop", stop_reason=stop, completion_tokens=produced)
                return
            yield StreamChunk(text=text, tokens=[token])
        truncated = len(reply.tokens) > request.max_tokens
        self.closed_early[slot] = False
        yield StreamEnd(
            finish_reason="length" if truncated else reply.finish_reason,
            stop_reason=None if truncated else reply.stop_reason,
            completion_tokens=produced,
        )

    async def score(self, prompt: str | list[int], top_k: int = 20) -> PromptScores:
        pieces = words(prompt) if isinstance(prompt, str) else [str(i) for i in prompt]
        tops: list[dict[str, float] | None] = [None] + [{"1": _log(0.7), "2": _log(0.2)} for _ in pieces[1:]]
        return PromptScores(token_ids=[self._id(p) for p in pieces], top_logprobs=tops, tokens=pieces)

    async def aclose(self) -> None:
        return None


def _stop_fired(output: str, new_chars: int, request: CompletionRequest) -> tuple[str, int] | None:
    """vLLM's rule: look for stop strings in the newly added text (plus the longest stop's overlap)."""
    if not request.stop:
        return None
    longest = max(len(s) for s in request.stop)
    window_start = max(0, len(output) - new_chars - longest + 1)
    best: tuple[int, str] | None = None
    for stop in request.stop:
        at = output.find(stop, window_start)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, stop)
    if best is None:
        return None
    at, stop = best
    return stop, at + len(stop) if request.include_stop_str_in_output else at


def _log(p: float) -> float:
    import math

    return math.log(max(p, 1e-12))
