"""One generation's state: the shared sequence both models continue, their prompts, the segment count.

A `Generation` is created by `RelayController.run()` and dropped when the run ends; nothing in it
carries over to the next question. Each model's prompt is rendered once (`open`), and every later
prompt is that prefix plus the shared sequence: token ids when both models share a tokenizer, else
text. That is what makes every continuation a byte-exact extension of the first prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from relaychat.backends.base import Backend, CompletionRequest, Token
from relaychat.core.events import Role
from relaychat.core.plan import RelayPlan, Turn
from relaychat.core.profile import PairProfile
from relaychat.core.prompt import Message, render_prefix
from relaychat.core.requests import CuePath, completion_request, room_in_context
from relaychat.core.sentences import SentenceRule

Handoff = Literal["token_ids", "text"]
Prompt = str | list[int]


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

    def extend(self, text: str, ids: list[int], count: int) -> None:
        self.sentences.advance(text)
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
            self.max_len[role] = info.max_model_len
        if self.handoff == "token_ids":
            by_text: dict[tuple[str, bool], list[int]] = {}
            for role in roles:
                key = (self.prefix_text[role], self.profile.spec(role).prompt.add_special_tokens)
                if key not in by_text:
                    by_text[key] = await self.backends[role].tokenize(key[0], add_special_tokens=key[1])
                self.prefix_ids[role] = by_text[key]

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

    def request(self, role: Role, prompt: Prompt, index: int, turn: Turn) -> CompletionRequest | None:
        """The request of segment `index`; None when no token may be generated (budget or context)."""
        limit = room_in_context(
            turn.limit,
            self.prompt_len(role, prompt),
            self.max_len.get(role),
            role=role,
            url=self.backends[role].url,
        )
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
        return ("" if tail.endswith("\n") or not tail else "\n") + self.plan.marker + "\n\n"
