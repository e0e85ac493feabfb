"""The warm-up policies of one generation, behind the points where the state machine calls them.

A switch costs the receiving model its time to first token. Two policies bring that down, and both
only ever act on the idle model, never on the hot path:
- feeds (`PrefillAhead`): while one model writes, the idle server reads the new tokens in the
  background, a whole KV block at a time, and at once when a cut is pending;
- early starts (`EarlyStarts`): when a cut waits for the character that confirms it, the receiving
  model gets its exact next request, which the next segment adopts if the cut comes.
What they learn across generations (cue-ending habits, token ids of suffixes) is in `WarmupMemory`,
owned by the controller's caller.

The state machine calls, in order: `prepare` (before the run starts), `reasoning_started`, then per
segment `segment_starting` -> `streamed` (after each chunk) -> `cue_written` (a cut at a cue) ->
`segment_report`; `no_turn` when the reasoning ends without another turn; `finish` and `aclose` at
the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaychat.backends.base import CompletionRequest
from relaychat.backends.errors import RequestRejected
from relaychat.core.cuts import CutScanner
from relaychat.core.early_start import EarlyStart, EarlyStarts
from relaychat.core.events import Role, Stage
from relaychat.core.feeds import FeedSchedule
from relaychat.core.generation import Generation, Prompt
from relaychat.core.memory import WarmupMemory
from relaychat.core.plan import RelayOptions
from relaychat.core.prefill import PrefillAhead


@dataclass(frozen=True)
class WarmupReport:
    """What warming did during one segment, as its `segment_end` event reports it."""

    feeds: int
    feeds_cancelled: int
    early_cancelled: int


@dataclass(frozen=True)
class WarmupTotals:
    """What the generation's early starts cost in the end: tokens streamed in vain, per model."""

    wasted_tokens: dict[Role, int]
    cancelled: int


class Warmup:
    """One generation's feeds and early starts; made by `run()` with the generation, closed with it."""

    def __init__(self, gen: Generation, options: RelayOptions, memory: WarmupMemory) -> None:
        self._gen = gen
        self._memory = memory
        relay = gen.plan.relay
        self._feed_every = options.feed_every if options.prefill_ahead and relay else 0
        self._early_on = options.early_start and relay
        self._prefill = PrefillAhead(gen.backends, max_feed_tokens=options.max_feed_tokens)
        self._early = EarlyStarts(gen.clock)
        self._suffix_ids: dict[str, list[int]] = {}  # one-token suffixes a pending cut may keep
        self._reported_feeds = 0
        self._cancelled_before = 0
        self._feeds: FeedSchedule | None = None  # the segment now streaming, reasoning only
        self._writer: Role = "large"
        self._early_upto = 0  # tokens shown when the early starts in flight went out
        self._early_now = False  # early starts apply to the segment now streaming

    async def prepare(self) -> None:
        """Before the first request: token ids of what pending cuts may keep ("," of "Now,", "\\n")."""
        gen = self._gen
        if gen.handoff == "token_ids" and self._early_on:
            wanted = {*gen.plan.matcher.suffixes, "\n"}
            large = gen.backends["large"]
            self._suffix_ids = await self._memory.suffixes.single_tokens(large, gen.names["large"], wanted)

    def reasoning_started(self) -> None:
        """The small server would otherwise read the whole prompt cold at the first switch."""
        if self._feed_every:
            self._feed("small", self._gen.prompt("small"))  # counted with the first segment

    def segment_starting(
        self, role: Role, stage: Stage, prompt: Prompt, request: CompletionRequest
    ) -> EarlyStart | None:
        """`role`'s turn begins: the early stream made for exactly this request, if any.

        Other early requests are cancelled; a feed to `role` is kept only if the request extends it.
        """
        self._cancelled_before = self._prefill.cancelled
        early = self._early.adopt(role, request)
        if early is None:
            self._prefill.settle(role, prompt)
        idle: Role = "small" if role == "large" else "large"
        reasoning = stage == "reasoning"
        self._writer = role
        self._feeds = None
        if reasoning and self._feed_every:
            ids_before = self._gen.ids_in_prompt(idle) if self._gen.handoff == "token_ids" else None
            self._feeds = FeedSchedule(idle, self._feed_every, ids_before)
        self._early_now = self._early_on and reasoning
        self._early_upto = 0
        return early

    def streamed(self, scanner: CutScanner, emitted: int) -> None:
        """After each chunk: early starts at a pending cut, else a feed when one is due."""
        pending_cuts = scanner.pending(emitted)
        pending = bool(pending_cuts)
        if self._early_now:
            if self._early and (not pending or self._early_upto != emitted):
                self._early.drop()
            if pending and not self._early:
                self._start_early(
                    scanner, emitted, self._memory.habits.likely(self._writer_name(), pending_cuts)
                )
                self._early_upto = emitted
            if self._early:
                return  # the early requests are reading the same tokens: a feed would only compete
        feeds = self._feeds
        if feeds is not None and feeds.due(emitted, pending):
            ahead = self._gen.prompt(feeds.idle, scanner.tokens[:emitted], scanner.text_of(0, emitted))
            block = None if pending else feeds.every
            if self._feed(feeds.idle, ahead, urgent=pending, block=block):
                feeds.fed(emitted)

    def cue_written(self, writer: Role, cue: str) -> None:
        """A cut at `cue`: remember how this model ends that cue word."""
        self._memory.habits.learn(self._gen.names[writer], cue)

    def no_turn(self) -> None:
        """No reasoning turn follows (budget spent, marker appended, answer next): cancel early starts."""
        self._early.drop()

    def segment_report(self) -> WarmupReport:
        sent, self._reported_feeds = self._prefill.sent - self._reported_feeds, self._prefill.sent
        return WarmupReport(
            feeds=sent,
            feeds_cancelled=self._prefill.cancelled - self._cancelled_before,
            early_cancelled=self._early.take_cancelled(),
        )

    async def finish(self) -> WarmupTotals:
        """Close the early requests still open; what they streamed in vain and how many were cancelled."""
        wasted = await self._early.aclose()
        return WarmupTotals(wasted, self._early.take_cancelled())

    async def aclose(self) -> None:
        await self._early.aclose()
        await self._prefill.aclose()

    def _writer_name(self) -> str:
        return self._gen.names[self._writer]

    def _start_early(self, scanner: CutScanner, emitted: int, suffixes: list[str]) -> None:
        """Send the idle model the request its turn will make if a pending cut is confirmed.

        One request per likely suffix ("Now" may be cut as "Now" or "Now,"); no budget left means no
        turn (`Generation.request` gives None): the reasoning ends there instead.
        """
        gen = self._gen
        role: Role = "small" if self._writer == "large" else "large"
        ahead = gen.prompt(role, scanner.tokens[:emitted], scanner.text_of(0, emitted))
        for suffix in suffixes:
            prompt = self._with_suffix(ahead, suffix)
            if prompt is None:
                continue
            done = gen.seq.tokens + emitted + (1 if suffix else 0)
            try:
                request = gen.request(role, prompt, gen.segments, gen.plan.turn(role, done), "reasoning")
            except RequestRejected:
                continue  # the real turn will report it
            if request is None:
                continue
            self._prefill.drop(role)
            self._early.start(role, gen.backends[role], request)

    def _with_suffix(self, prompt: Prompt, suffix: str) -> Prompt | None:
        """`prompt` plus the one token a pending cut would keep; None when that token is not known."""
        if not suffix:
            return prompt
        if isinstance(prompt, str):
            return prompt + suffix
        ids = self._suffix_ids.get(suffix)
        return prompt + ids if ids is not None else None

    def _feed(self, role: Role, prompt: Prompt, urgent: bool = False, block: int | None = None) -> bool:
        add_special = self._gen.add_special_tokens(role, prompt)
        return self._prefill.feed(role, prompt, add_special, urgent=urgent, block=block)
