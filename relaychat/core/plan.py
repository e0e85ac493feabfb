"""A relay's settings, resolved once from the profile and the caller's options, and its turns.

`RelayPlan` answers the questions the state machine asks of its settings: which models take part,
the budgets (total, answer reserve, a small-model turn's cap), who writes the answer, which cues
count, and how each model's reasoning turn runs (docs/how-it-works.md, "The relay": the large model stops at a
cue after `min_tokens`, the small model at a sentence end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from relaychat.core.cues import CueMatcher, server_stop_strings
from relaychat.core.cuts import Detect
from relaychat.core.events import Mode, Role
from relaychat.core.profile import PairProfile


@dataclass(frozen=True)
class RelayOptions:
    """Per-generation settings; None means "the profile's value"."""

    mode: Mode = "relay"
    max_tokens: int | None = None
    answer_reserve: int | None = None
    answer_model: Role | None = None
    cues: tuple[str, ...] | None = None
    seed: int | None = None
    run_id: str | None = None
    prefill_ahead: bool = True  # feed the idle server while the other model writes
    cue_detection: Literal["auto", "client", "server"] = "auto"  # server: boundary-encoded stop strings
    # Tokens between routine feeds. With token ids, feeds land on multiples of it in the prompt, so with
    # the server's KV block size (32 on our CPU servers) every feed fills whole cache blocks.
    feed_every: int = 32
    max_feed_tokens: int | None = None  # cap on one routine feed's size (core.feed_policy); None: no cap
    early_start: bool = True  # send the next model its request while a cut waits for confirmation


@dataclass(frozen=True)
class Turn:
    """How one request runs: what ends it on the client, its token limit and its minimum length."""

    detect: Detect
    limit: int
    min_tokens: int = 0


@dataclass(frozen=True)
class RelayPlan:
    mode: Mode
    max_tokens: int
    answer_reserve: int
    answer_model: Role
    cues: list[str]
    matcher: CueMatcher
    stops: list[str]  # the cues as boundary-encoded server stop strings, then the reasoning-end marker
    seed: int | None
    marker: str
    min_tokens: int  # a large turn writes at least this many tokens before a cue counts
    small_max_tokens: int

    @classmethod
    def of(cls, profile: PairProfile, options: RelayOptions) -> RelayPlan:
        """Resolve `options` against `profile`; ValueError when the budgets cannot work."""
        max_tokens = options.max_tokens or profile.max_tokens
        if options.answer_reserve is not None:
            reserve = options.answer_reserve
        elif options.max_tokens is not None:
            # Keep the reserve proportionate when a small budget is asked of a big-budget profile.
            reserve = min(profile.answer_reserve, max_tokens // 4)
        else:
            reserve = profile.answer_reserve
        if reserve >= max_tokens:
            raise ValueError("the answer reserve must be smaller than the token budget")
        mode = options.mode
        answer_model: Role = (options.answer_model or profile.answer_model) if mode == "relay" else mode
        chosen = list(options.cues) if options.cues is not None else list(profile.cues)
        cues = chosen if mode == "relay" else []
        return cls(
            mode=mode,
            max_tokens=max_tokens,
            answer_reserve=reserve,
            answer_model=answer_model,
            cues=cues,
            matcher=CueMatcher.of(cues),
            stops=[*server_stop_strings(cues), profile.reasoning_end],
            seed=options.seed if options.seed is not None else profile.seed,
            marker=profile.reasoning_end,
            min_tokens=profile.min_tokens,
            small_max_tokens=profile.small_max_tokens,
        )

    @property
    def relay(self) -> bool:
        return self.mode == "relay"

    @property
    def roles(self) -> list[Role]:
        """The models this generation uses, the one that starts first."""
        return ["large", "small"] if self.mode == "relay" else [self.mode]

    @property
    def first(self) -> Role:
        return "large" if self.mode == "relay" else self.mode

    @property
    def reasoning_budget(self) -> int:
        return self.max_tokens - self.answer_reserve

    def turn(self, role: Role, done: int) -> Turn:
        """How `role`'s reasoning turn runs after `done` tokens of the generation."""
        if self.mode != "relay":
            return Turn("none", self.max_tokens - done)
        left = self.reasoning_budget - done
        if role == "large":
            return Turn("cue", left, self.min_tokens)
        return Turn("sentence", min(left, self.small_max_tokens))

    def answer_turn(self, done: int) -> Turn:
        return Turn("none", self.max_tokens - done)

    def request_seed(self, index: int) -> int | None:
        """A different, reproducible seed for every request of a seeded generation."""
        return None if self.seed is None else (self.seed * 1_000_003 + index) % 2**31
