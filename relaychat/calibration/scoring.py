"""Score a reasoning trace with the small model: its margin p1 - p2 at every reasoning token.

The prompt is the small model's own chat-template prefix (what the relay would send it) followed by
the trace. Prefix and trace are tokenized separately and sent as ids, so the first reasoning token is
known exactly: prefix positions are never scored. Each reasoning token is mapped back to a character
span of the trace through the server's decoded token texts, so cue positions (characters, from the
shared matcher) and margins (tokens) meet without re-implementing any tokenizer.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping

from pydantic import BaseModel, Field

from relaychat.backends.base import Backend
from relaychat.core.margin import margin_from_logprobs
from relaychat.core.profile import PromptFormat
from relaychat.core.prompt import Message, render_prefix

ALIGN_WINDOW = 16  # characters searched ahead to re-synchronise after an undecodable token piece


class ScoringError(RuntimeError):
    """The server's scores cannot be trusted for this trace (retried, then reported)."""


class ScoredTrace(BaseModel):
    """Per-token margins of one trace with the character span each token covers."""

    key: str
    model: str
    k: int
    prefix_tokens: int
    starts: list[int] = Field(description="character offset of each reasoning token in the trace")
    ends: list[int]
    margins: list[float | None]
    truncated_tokens: int = Field(0, description="reasoning tokens beyond the server's context, not scored")
    wall_s: float = 0.0


def margin_top_k(top: Mapping[str, float] | None, k: int) -> float | None:
    """p1 - p2 from one position's top-k dict.

    vLLM adds the actual prompt token when it ranks below k, so a dict can hold k+1 entries; keeping
    the k largest values drops it (it can never be p1 or p2 unless k = 1, where p2 is unknown and
    `margin_from_logprobs` returns its lower bound).
    """
    if not top:
        return None
    return margin_from_logprobs(heapq.nlargest(k, top.values()))


def align_pieces(text: str, pieces: list[str]) -> tuple[list[int], list[int]]:
    """Character span of each token piece in `text`.

    Pieces normally concatenate to the text. A piece that does not (a byte of a multi-byte character
    decoded as '' or U+FFFD) is held back until the next piece that matches within a short window;
    the held-back pieces then share the characters skipped (or get an empty span when the next piece
    carries the whole character, as vLLM's incremental detokenizer does). Pieces past the end of the
    text get empty spans at its end.
    """
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    pending: list[int] = []

    def settle(upto: int) -> None:
        for index in pending:
            starts[index], ends[index] = position, upto
        pending.clear()

    for index, piece in enumerate(pieces):
        starts.append(position)
        ends.append(position)
        found = -1
        if piece and "\ufffd" not in piece:
            found = text.find(piece, position, position + ALIGN_WINDOW + len(piece))
        if found < 0:
            pending.append(index)
            continue
        start = position if not pending else found  # skipped characters go to the held-back pieces
        settle(found)
        starts[index], ends[index] = start, found + len(piece)
        position = found + len(piece)
    settle(len(text))
    return starts, ends


def small_prefix(fmt: PromptFormat, question: str) -> str:
    conversation: list[Message] = [{"role": "user", "content": question}]
    return render_prefix(fmt, conversation)


async def score_trace(
    backend: Backend,
    fmt: PromptFormat,
    *,
    key: str,
    question: str,
    reasoning: str,
    k: int = 20,
    max_model_len: int | None = None,
) -> ScoredTrace:
    """One forward pass of the small model over prefix + trace with `prompt_logprobs = k`."""
    started = time.perf_counter()
    prefix_ids = await backend.tokenize(
        small_prefix(fmt, question), add_special_tokens=fmt.add_special_tokens
    )
    reasoning_ids = await backend.tokenize(reasoning, add_special_tokens=False)
    truncated = 0
    if max_model_len:
        room = max(0, max_model_len - len(prefix_ids) - 1)  # one generated token must still fit
        truncated = max(0, len(reasoning_ids) - room)
        reasoning_ids = reasoning_ids[:room] if truncated else reasoning_ids
    info = await backend.info()
    if not reasoning_ids:
        return ScoredTrace(
            key=key,
            model=info.name,
            k=k,
            prefix_tokens=len(prefix_ids),
            starts=[],
            ends=[],
            margins=[],
            truncated_tokens=truncated,
        )
    scores = await backend.score(prefix_ids + reasoning_ids, top_k=k)
    n = len(prefix_ids)
    if scores.token_ids and scores.token_ids[n:] != reasoning_ids:
        raise ScoringError(f"{key}: the server scored different tokens than it was sent")
    pieces = scores.tokens[n:]
    starts, ends = align_pieces(reasoning, pieces)
    margins = [margin_top_k(top, k) for top in scores.top_logprobs[n:]]
    return ScoredTrace(
        key=key,
        model=info.name,
        k=k,
        prefix_tokens=n,
        starts=starts,
        ends=ends,
        margins=margins,
        truncated_tokens=truncated,
        wall_s=time.perf_counter() - started,
    )
