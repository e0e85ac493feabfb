"""One generation's state: the shared sequence both models continue, their prompts, the segment count.

A `Generation` is created by `RelayController.run()` and dropped when the run ends; nothing in it
carries over to the next question. Each model's prompt is rendered once (`open`), and every later
prompt is that prefix plus the shared sequence: token ids when both models share a tokenizer, else
text. That is what makes every continuation a byte-exact extension of the first prompt.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from relaychat.backends.base import Backend, CompletionRequest, Token
from relaychat.core.events import Role
from relaychat.core.plan import RelayPlan, Turn
from relaychat.core.profile import PairProfile
from relaychat.core.prompt import Message, render_prefix
from relaychat.core.requests import (
    CONTEXT_SLACK,
    MARKER_ROOM,
    CuePath,
    check_prompt_fits,
    completion_request,
    room_in_context,
)
from relaychat.core.sentences import SentenceRule

Handoff = Literal["token_ids", "text"]
ANSWER_SEPARATOR = "\n\n"  # after the reasoning-end marker, before the answer, in the Qwen3 and R1 templates
MAX_TOKEN_BYTES = 64  # no tokenizer's token is longer: a text of N bytes has at least N / 64 tokens
TEXT_TOKEN_RATIO = 1.25  # text handoffs: tokens of one model's text in the other's tokenizer, at most
Prompt = str | list[int]


def missing_separator(text: str, marker: str) -> str:
    """The templates' blank line after the reasoning-end marker, less the newlines already written
    after it; nothing when other text follows the marker (the answer has begun)."""
    at = text.rfind(marker)
    after = text[at + len(marker) :] if at >= 0 else ""
    if not ANSWER_SEPARATOR.startswith(after):
        return ""
    return ANSWER_SEPARATOR[len(after) :]


@dataclass
class SharedSequence:
    """What has been generated so far, shared by both models."""

    parts: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    tokens: int = 0
    tail: str = ""  # the last characters, for word-boundary look-behind
    # The sentence rule's state after the text so far: a small model's segment starts from it, so a
    # math span or code fence opened before a cue is still open after it.
    sentences: SentenceRule = field(default_factory=SentenceRule)

    chars: int = 0

    def extend(self, text: str, ids: list[int], count: int) -> None:
        self.sentences.advance(text)
        self.chars += len(text)
        self.parts.append(text)
        self.ids.extend(ids)
        self.tokens += count
        self.tail = (self.tail + text)[-64:]

    def record(self, tokens: list[Token], text: str) -> None:
        """Keep streamed tokens (`text` is their exact joined text)."""
        self.extend(text, [t.id for t in tokens if t.id is not None], len(tokens))

    @property
    def text(self) -> str:
        return "".join(self.parts)


class Generation:
    """Prompts, sequence, server facts and counters of one run; `open` it before the first segment."""

    def __init__(
        self,
        profile: PairProfile,
        plan: RelayPlan,
        backends: Mapping[Role, Backend],
        clock: Callable[[], float],
    ) -> None:
        self.profile = profile
        self.plan = plan
        self.backends = backends
        self.clock = clock  # seconds since the run started
        self.handoff: Handoff = "token_ids" if profile.shared_tokenizer and plan.relay else "text"
        self.seq = SharedSequence()
        self.prefix_text: dict[Role, str] = {}
        self.prefix_ids: dict[Role, list[int]] = {}
        self.names: dict[Role, str] = {"large": "", "small": ""}
        self.max_len: dict[Role, int | None] = {}
        # Each model's rendered prompt in tokens, for sizing requests to the context window: exact when
        # tokenized, else its UTF-8 length (a bound: a token is at least one byte).
        self.prefix_len: dict[Role, int] = {}
        self.context_bound = False  # the last request's limit was lowered to fit a context window
        # Text handoffs: each server's own count of its last prompt, and the sequence length then.
        self._counted: dict[Role, tuple[int, int]] = {}
        self.cue_path: CuePath = "client"
        self.segments = 0  # segments begun; the next one's index
        self.last_token_t: float | None = None  # when the previous segment's last kept token arrived

    async def open(self, conversation: list[Message]) -> None:
        """Render each model's prompt once, read the servers' names and limits, tokenize if handing ids."""
        roles = self.plan.roles
        for role in roles:
            self.prefix_text[role] = render_prefix(self.profile.spec(role).prompt, conversation)
        for role in roles:
            info = await self.backends[role].info()
            self.names[role] = info.name
            override = self.profile.spec(role).max_model_len
            self.max_len[role] = override or info.max_model_len
        if self.handoff == "token_ids":
            by_text: dict[tuple[str, bool], list[int]] = {}
            for role in roles:
                key = (self.prefix_text[role], self.profile.spec(role).prompt.add_special_tokens)
                if key not in by_text:
                    by_text[key] = await self.backends[role].tokenize(key[0], add_special_tokens=key[1])
                self.prefix_ids[role] = by_text[key]
                self.prefix_len[role] = len(by_text[key])
        for role in roles:
            await self._check_fits(role)

    async def _check_fits(self, role: Role) -> None:
        """PromptTooLong before any generation when the question alone fills `role`'s window."""
        max_len = self.max_len.get(role)
        if not max_len:
            return
        if role not in self.prefix_len:
            text = self.prefix_text[role]
            size = len(text.encode()) + 2  # a bound (a token is at least one byte), BOS/EOS included
            if size // MAX_TOKEN_BYTES > max_len:  # too long whatever the tokenizer: not even sent
                check_prompt_fits(size // MAX_TOKEN_BYTES, max_len, role=role, url=self.backends[role].url)
            # A long question (or a small window): count exactly, one request; the bound of a short one
            # is close enough until the server's own count arrives with the first stream (`counted`).
            if size + CONTEXT_SLACK >= max_len // 8:
                add = self.profile.spec(role).prompt.add_special_tokens
                size = len(await self.backends[role].tokenize(text, add_special_tokens=add))
            self.prefix_len[role] = size
        check_prompt_fits(self.prefix_len[role], max_len, role=role, url=self.backends[role].url)

    def counted(self, role: Role, prompt_tokens: int) -> None:
        """The server counted `prompt_tokens` in the prompt of `role`'s current request (text handoff)."""
        self._counted[role] = (prompt_tokens, self.seq.tokens)

    def next_index(self) -> int:
        index, self.segments = self.segments, self.segments + 1
        return index

    def prompt(self, role: Role, tokens: list[Token] | None = None, text: str = "") -> Prompt:
        """`role`'s prompt now, or once the writing model's not yet kept `tokens` (`text`) are added."""
        if self.handoff == "token_ids":
            ahead = [t.id for t in tokens if t.id is not None] if tokens else []
            return self.prefix_ids[role] + self.seq.ids + ahead
        return self.prefix_text[role] + self.seq.text + text

    def prompt_len(self, role: Role, prompt: Prompt) -> int | None:
        """Prompt length in tokens: exact for token ids, an estimate for text once the prefix is known."""
        if isinstance(prompt, list):
            return len(prompt)
        known = self.prefix_ids.get(role)
        return len(known) + self.seq.tokens if known is not None else None

    def add_special_tokens(self, role: Role, prompt: Prompt) -> bool:
        """A text prompt gets the server's BOS as the format says; token ids already hold it."""
        return self.profile.spec(role).prompt.add_special_tokens if isinstance(prompt, str) else False

    def context_len(self, role: Role, prompt: Prompt) -> int | None:
        """`role`'s prompt length for sizing the request: exact with token ids. With text, the server's
        last count (or the question's) plus the tokens written since, times TEXT_TOKEN_RATIO (the other
        model's tokenizer may cut the same text finer), plus one per character not yet kept."""
        if isinstance(prompt, list):
            return len(prompt)
        known = self._known_len(role)
        if known is None:
            return None
        ahead = len(prompt) - len(self.prefix_text[role]) - self.seq.chars
        return known + max(ahead, 0)

    def _known_len(self, role: Role) -> int | None:
        """`role`'s prompt before the next tokens, in its tokens: exact with token ids, else estimated."""
        if self.handoff == "token_ids" and role in self.prefix_ids:
            return len(self.prefix_ids[role]) + len(self.seq.ids)
        if role in self._counted:
            known, at = self._counted[role]
        elif role in self.prefix_len:
            known, at = self.prefix_len[role], 0
        else:
            return None
        return known + math.ceil((self.seq.tokens - at) * TEXT_TOKEN_RATIO)

    def reasoning_room(self) -> int | None:
        """Tokens the reasoning may still take so that the answer model keeps room in its window for
        the marker and the answer (the reserve, at most half of what its window leaves the question)."""
        answer = self.plan.answer_model
        max_len, prefix, now = self.max_len.get(answer), self.prefix_len.get(answer), self._known_len(answer)
        if not max_len or prefix is None or now is None:
            return None
        reserve = min(self.plan.answer_reserve, (max_len - prefix) // 2)
        return max_len - now - CONTEXT_SLACK - MARKER_ROOM - reserve

    def request(
        self, role: Role, prompt: Prompt, index: int, turn: Turn, stage: str = "answer"
    ) -> CompletionRequest | None:
        """The request of segment `index`, its limit lowered to fit the context windows (then
        `context_bound`); None when no token may be generated (budget or context)."""
        limit = room_in_context(turn.limit, self.context_len(role, prompt), self.max_len.get(role))
        if stage == "reasoning" and (room := self.reasoning_room()) is not None:
            limit = min(limit, room)
        self.context_bound = limit < turn.limit
        if limit <= 0:
            return None
        server_cues = turn.detect == "cue" and self.cue_path == "server"
        return completion_request(
            self.profile.spec(role),
            prompt,
            limit,
            turn.min_tokens,
            seed=self.plan.request_seed(index),
            add_special_tokens=self.add_special_tokens(role, prompt),
            stops=self.plan.stops if server_cues else [],
        )

    def ids_in_prompt(self, role: Role) -> int:
        """Token ids `role`'s next prompt holds before the writing model's new tokens (token-id handoffs)."""
        return len(self.prefix_ids[role]) + len(self.seq.ids)

    def switch_gap(self, first_t: float | None, last_t: float | None) -> float | None:
        """Time from the previous segment's last token to this one's first; remembers this one's last."""
        gap = first_t - self.last_token_t if first_t is not None and self.last_token_t is not None else None
        if last_t is not None:
            self.last_token_t = last_t
        return gap

    def marker_text(self) -> str:
        """The reasoning-end marker as the relay appends it, on a line of its own."""
        tail = self.seq.tail
        return ("" if tail.endswith("\n") or not tail else "\n") + self.plan.marker + ANSWER_SEPARATOR

    def answer_separator(self) -> str:
        """What is still missing between the written marker and the answer (`missing_separator`)."""
        return missing_separator(self.seq.tail, self.plan.marker)
