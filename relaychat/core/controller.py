"""The RelayGen state machine (RELAYGEN.md section 2) as an async generator of typed events.

One generation is one shared sequence of tokens that both models continue in turn:

    prompt | large ... cue -> small ... sentence end -> large ... | reasoning end | answer model

Cut points are decided here, on the token stream, never by server-side substring stops: a cue counts
only at word boundaries (`CueMatcher`), a sentence ends only where `sentence_end` says so, and every
handoff falls on a whole-token boundary of the model that wrote it. Tokens streamed past a cut (the
look-ahead that confirms a boundary) are dropped and counted as `discarded_tokens`; closing the
stream aborts the request on the server.

Each model's prompt is rendered once per generation; continuations only append the shared sequence,
as token ids when both models share a tokenizer, else as text.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal

from relaychat.backends.base import Backend, CompletionRequest, StreamEnd, Token
from relaychat.backends.errors import BackendError, RequestRejected
from relaychat.core.cues import CueMatcher, server_stop_strings, split_cue
from relaychat.core.cuts import CutScanner, Detect
from relaychat.core.early_start import EarlyStarts, timed
from relaychat.core.events import (
    CueHit,
    ErrorInfo,
    Mode,
    RelayEvent,
    Role,
    RunFailed,
    RunFinished,
    RunStarted,
    SegmentEnded,
    SegmentEndReason,
    SegmentStarted,
    SegmentTrigger,
    Stage,
    StageChanged,
    Switch,
    TokenDelta,
)
from relaychat.core.margin import margin_from_logprobs
from relaychat.core.prefill import PrefillAhead
from relaychat.core.profile import PairProfile
from relaychat.core.prompt import Message, render_prefix
from relaychat.core.summary import SummaryBuilder

_SUFFIX_IDS: dict[tuple[str, str, str], list[int]] = {}  # (URL, model, text) -> token ids, shared by runs
# (model, cue word) -> how often each ending followed it ("Now" -> {",": 5, "": 1}), shared by runs.
_CUE_ENDINGS: dict[tuple[str, str], dict[str, int]] = {}
_CONTEXT_SLACK = 8  # tokens kept free below the server's context limit (estimates in text mode)


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
    early_start: bool = True  # send the next model its request while a cut waits for confirmation


@dataclass
class _Sequence:
    """What has been generated so far, shared by both models."""

    parts: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    tokens: int = 0
    tail: str = ""  # the last characters, for word-boundary look-behind

    def extend(self, text: str, ids: list[int], count: int) -> None:
        self.parts.append(text)
        self.ids.extend(ids)
        self.tokens += count
        self.tail = (self.tail + text)[-64:]

    @property
    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _Warmup:
    """What one segment has done to warm the idle model (feeds sent, how far; early start point)."""

    idle: Role
    writer: Role
    feed_every: int
    early_starts: bool
    fed_upto: int = 0
    early_upto: int = 0


@dataclass
class _SegmentOutcome:
    reason: SegmentEndReason
    kept: int
    cue: str | None = None
    stage_changed_in_stream: bool = False


class RelayController:
    """Runs one generation at a time over a large and a small backend."""

    def __init__(
        self,
        profile: PairProfile,
        backends: Mapping[Role, Backend],
        options: RelayOptions | None = None,
    ) -> None:
        self.profile = profile
        self.backends = dict(backends)
        self.options = options or RelayOptions()
        opts = self.options
        self.mode: Mode = opts.mode
        self.max_tokens = opts.max_tokens or profile.max_tokens
        if opts.answer_reserve is not None:
            self.answer_reserve = opts.answer_reserve
        elif opts.max_tokens is not None:
            # Keep the reserve proportionate when a small budget is asked of a big-budget profile.
            self.answer_reserve = min(profile.answer_reserve, self.max_tokens // 4)
        else:
            self.answer_reserve = profile.answer_reserve
        if self.answer_reserve >= self.max_tokens:
            raise ValueError("the answer reserve must be smaller than the token budget")
        if self.mode == "relay":
            self.answer_model: Role = opts.answer_model or profile.answer_model
        else:
            self.answer_model = self.mode  # type: ignore[assignment]
        cues = list(opts.cues) if opts.cues is not None else list(profile.cues)
        self.cues = cues if self.mode == "relay" else []
        self.matcher = CueMatcher.of(self.cues)
        self.seed = opts.seed if opts.seed is not None else profile.seed
        self.marker = profile.reasoning_end
        self._stops = [*server_stop_strings(self.cues), self.marker]
        self._cue_path: Literal["client", "server"] = "client"

    # -- helpers --------------------------------------------------------------------------------

    def _roles(self) -> list[Role]:
        return ["large", "small"] if self.mode == "relay" else [self.mode]  # type: ignore[list-item]

    def _request_seed(self, index: int) -> int | None:
        return None if self.seed is None else (self.seed * 1_000_003 + index) % 2**31

    # -- the generation -------------------------------------------------------------------------

    async def run(self, conversation: list[Message]) -> AsyncIterator[RelayEvent]:
        """Generate one reply to `conversation` (which ends with the user's question)."""
        t0 = time.perf_counter()
        self._clock = lambda: time.perf_counter() - t0
        builder = SummaryBuilder(self.mode, self.profile.name)
        self._seq = _Sequence()
        self._index = 0
        self._last_token_t: float | None = None
        self._prefix_text: dict[Role, str] = {}
        self._prefix_ids: dict[Role, list[int]] = {}
        run_id = self.options.run_id or uuid.uuid4().hex[:12]
        roles = self._roles()
        handoff = "token_ids" if self.profile.shared_tokenizer and self.mode == "relay" else "text"
        self._handoff = handoff
        self._prefill = PrefillAhead(self.backends)
        self._reported_feeds = 0
        feeding = self.options.prefill_ahead and self.mode == "relay"
        self._feed_every = self.options.feed_every if feeding else 0
        self._early = EarlyStarts(self._clock)
        self._suffix_ids: dict[str, list[int]] = {}

        def emit(event: RelayEvent) -> RelayEvent:
            builder.add(event)
            return event

        try:
            for role in roles:
                self._prefix_text[role] = render_prefix(self.profile.spec(role).prompt, conversation)
            names = {r: "" for r in ("large", "small")}
            self._names = names
            self._max_len: dict[Role, int | None] = {}
            for role in roles:
                info = await self.backends[role].info()
                names[role] = info.name
                self._max_len[role] = info.max_model_len
            if handoff == "token_ids":
                await self._tokenize_prefixes(roles)
                if self.mode == "relay" and self.options.early_start:
                    await self._tokenize_suffixes()
            self._cue_path = await self._choose_cue_path()
            yield emit(
                RunStarted(
                    t=self._clock(),
                    run_id=run_id,
                    mode=self.mode,
                    profile=self.profile.name,
                    large_model=names["large"],
                    small_model=names["small"],
                    answer_model=self.answer_model,
                    messages=conversation,
                    max_tokens=self.max_tokens,
                    cues=self.cues,
                    handoff=handoff,  # type: ignore[arg-type]
                    cue_detection=self._cue_path,
                )
            )
            yield emit(StageChanged(t=self._clock(), stage="reasoning"))
            # The small server would otherwise read the whole prompt cold at the first switch.
            if self._feed_every:
                self._feed("small", self._prompt("small"))  # counted with the first segment
            async for event in self._reasoning_stage():
                yield emit(event)
            if not self._in_answer:
                async for event in self._answer_stage():
                    yield emit(event)
            summary = builder.result()
            for role, wasted in (await self._early.aclose()).items():
                summary.stats(role).early_wasted_tokens += wasted
                summary.early_wasted_tokens += wasted
            summary.early_cancelled += self._early.take_cancelled()
            yield RunFinished(t=self._clock(), summary=summary)
        except BackendError as exc:
            role = self._role_of(exc)
            yield RunFailed(
                t=self._clock(),
                error=ErrorInfo(kind=exc.kind, message=str(exc), model=role, status=exc.status),
                summary=builder.result(),
            )
        finally:
            await self._early.aclose()
            await self._prefill.aclose()

    def _role_of(self, exc: BackendError) -> Role | None:
        for role, backend in self.backends.items():
            if exc.url and exc.url.rstrip("/") == backend.url.rstrip("/"):
                return role
        return None

    async def _choose_cue_path(self) -> Literal["client", "server"]:
        """Server-side stops when the large server takes our stop list; else client-side detection.

        The backend probes once per stop-list size; a server with vLLM's default cap of 4 stop strings
        answers HTTP 400 and the relay detects cues on the token stream instead.
        """
        wanted = self.options.cue_detection
        if wanted == "client" or self.mode != "relay" or not self.cues:
            return "client"
        try:
            accepted = await self.backends["large"].accepts_stops(self._stops)
        except RequestRejected:
            accepted = False
        if wanted == "server" and not accepted:
            raise RequestRejected(
                f"{self.backends['large'].url} refuses {len(self._stops)} stop strings per request; start it "
                f"with VLLM_MAX_STOP_STRINGS=1024, or use client-side cue detection",
                url=self.backends["large"].url,
            )
        return "server" if accepted else "client"

    async def _tokenize_prefixes(self, roles: list[Role]) -> None:
        by_text: dict[tuple[str, bool], list[int]] = {}
        for role in roles:
            fmt = self.profile.spec(role).prompt
            key = (self._prefix_text[role], fmt.add_special_tokens)
            if key not in by_text:
                by_text[key] = await self.backends[role].tokenize(key[0], add_special_tokens=key[1])
            self._prefix_ids[role] = by_text[key]

    def _prompt(self, role: Role) -> str | list[int]:
        if self._handoff == "token_ids":
            return self._prefix_ids[role] + self._seq.ids
        return self._prefix_text[role] + self._seq.text

    def _add_special_tokens(self, role: Role, prompt: str | list[int]) -> bool:
        """A text prompt gets the server's BOS as the format says; token ids already hold it."""
        return self.profile.spec(role).prompt.add_special_tokens if isinstance(prompt, str) else False

    def _feed(
        self, role: Role, prompt: str | list[int], urgent: bool = False, block: int | None = None
    ) -> bool:
        return self._prefill.feed(
            role, prompt, self._add_special_tokens(role, prompt), urgent=urgent, block=block
        )

    def _take_feeds(self) -> int:
        """Feeds sent since the last segment reported (a text feed goes out once its count is known)."""
        sent, self._reported_feeds = self._prefill.sent - self._reported_feeds, self._prefill.sent
        return sent

    def _feed_prompt(self, role: Role, tokens: list[Token], text: str) -> str | list[int]:
        """The prompt `role` will get next, up to what the other model has written so far."""
        if self._handoff == "token_ids":
            return self._prefix_ids[role] + self._seq.ids + [t.id for t in tokens if t.id is not None]
        return self._prefix_text[role] + self._seq.text + text

    def _prompt_len_estimate(self, role: Role, prompt: str | list[int]) -> int | None:
        if isinstance(prompt, list):
            return len(prompt)
        known = self._prefix_ids.get(role)
        return len(known) + self._seq.tokens if known is not None else None

    async def _reasoning_stage(self) -> AsyncIterator[RelayEvent]:
        self._in_answer = False
        reasoning_budget = self.max_tokens - self.answer_reserve
        active: Role = "large" if self.mode == "relay" else self.mode  # type: ignore[assignment]
        trigger: SegmentTrigger = "start"
        cue: str | None = None
        while True:
            if reasoning_budget - self._seq.tokens <= 0:
                async for event in self._append_marker("reasoning_budget"):
                    yield event
                return
            detect, limit, min_tokens = self._turn(active, self._seq.tokens)
            outcome = _SegmentOutcome(reason="eos", kept=0)
            async for event in self._segment(
                active, "reasoning", trigger, cue, limit, min_tokens, detect, outcome
            ):
                yield event
            if outcome.stage_changed_in_stream:
                self._in_answer = True
                return
            if outcome.reason == "reasoning_end":
                yield StageChanged(t=self._clock(), stage="answer")
                return
            if outcome.reason == "server_stop" and outcome.kept > 0:
                trigger, cue = "resume", None
                continue  # same model, new request: nothing was handed over
            if outcome.reason in ("eos", "reasoning_budget", "length") or (
                outcome.kept == 0 and detect == "cue"
            ):
                reason = "reasoning_budget" if outcome.reason == "length" else outcome.reason
                async for event in self._append_marker(reason):
                    yield event
                return
            if self.mode != "relay":
                continue  # a single-model stream ended without a cut: keep writing
            other: Role = "small" if active == "large" else "large"
            yield Switch(
                t=self._clock(), from_model=active, to_model=other, reason=outcome.reason, cue=outcome.cue
            )
            trigger = "cue" if outcome.reason == "cue" else outcome.reason  # type: ignore[assignment]
            cue = outcome.cue
            active = other

    def _turn(self, role: Role, done: int) -> tuple[Detect, int, int]:
        """How `role`'s reasoning turn runs after `done` tokens: cut detection, token limit, min tokens."""
        if self.mode != "relay":
            return "none", self.max_tokens - done, 0
        left = self.max_tokens - self.answer_reserve - done
        if role == "large":
            return "cue", left, self.profile.min_tokens
        return "sentence", min(left, self.profile.small_max_tokens), 0

    def _request(
        self, role: Role, prompt: str | list[int], index: int, limit: int, min_tokens: int, detect: Detect
    ) -> CompletionRequest | None:
        """The request for one segment; None when the server's context leaves no room to generate."""
        prompt_len = self._prompt_len_estimate(role, prompt)
        max_len = self._max_len.get(role)
        if max_len and prompt_len is not None:
            room = max_len - prompt_len - _CONTEXT_SLACK
            if room <= 0:
                raise RequestRejected(
                    f"the prompt ({prompt_len} tokens) fills the {role} server's context ({max_len} tokens): "
                    f"shorten the conversation or serve the model with a longer --max-model-len",
                    url=self.backends[role].url,
                )
            limit = min(limit, room)
        if limit <= 0:
            return None
        spec = self.profile.spec(role)
        return CompletionRequest(
            prompt=prompt,
            max_tokens=limit,
            min_tokens=min(min_tokens, limit),
            logprobs=2,
            temperature=spec.sampling.temperature,
            top_p=spec.sampling.top_p,
            top_k=spec.sampling.top_k,
            seed=self._request_seed(index),
            add_special_tokens=self._add_special_tokens(role, prompt),
            stop=self._stops if detect == "cue" and self._cue_path == "server" else [],
        )

    def _likely_suffixes(self, writer: Role, pending: tuple[tuple[str, str], ...]) -> list[str]:
        """Which of the pending cuts to start early: "... Now" may become a cut after "Now" or after
        "Now,". Both go out until this model has shown a habit (it wrote one more often than the other),
        then only that one: two early requests double the receiver's prefill."""
        suffixes = list(dict.fromkeys(suffix for _, suffix in pending))
        words = {word for word, _ in pending}
        if len(suffixes) < 2 or len(words) != 1:
            return suffixes
        counts = _CUE_ENDINGS.get((self._names[writer], words.pop().lower()), {})
        ranked = sorted(suffixes, key=lambda s: counts.get(s, 0), reverse=True)
        return ranked[:1] if counts.get(ranked[0], 0) > counts.get(ranked[1], 0) else suffixes

    def _learn_cue_ending(self, writer: Role, cue: str) -> None:
        word, suffix = split_cue(cue)
        counts = _CUE_ENDINGS.setdefault((self._names[writer], word.lower()), {})
        counts[suffix] = counts.get(suffix, 0) + 1

    def _with_suffix(self, prompt: str | list[int], suffix: str) -> str | list[int] | None:
        """`prompt` plus the one token a pending cut would keep; None when that token is not known."""
        if not suffix:
            return prompt
        if isinstance(prompt, str):
            return prompt + suffix
        ids = self._suffix_ids.get(suffix)
        return prompt + ids if ids is not None else None

    async def _tokenize_suffixes(self) -> None:
        """Token ids of the texts pending cuts may keep ("," of "Now,", a second newline), once per server."""
        backend = self.backends["large"]
        server = (backend.url, (await backend.info()).name)
        wanted = sorted({*self.matcher.suffixes, "\n"} - {""})
        missing = [s for s in wanted if (*server, s) not in _SUFFIX_IDS]
        found = await asyncio.gather(*(backend.tokenize(s, add_special_tokens=False) for s in missing))
        for suffix, ids in zip(missing, found, strict=True):
            _SUFFIX_IDS[(*server, suffix)] = ids
        # A suffix the tokenizer splits could not be one streamed token: no early start for it.
        self._suffix_ids = {s: ids for s in wanted if len(ids := _SUFFIX_IDS[(*server, s)]) == 1}

    def _start_early(self, role: Role, prompt: str | list[int], done: int) -> None:
        """Send `role` the request its turn will make if the pending cut is confirmed after `done` tokens.

        No budget left means no turn (`_request` gives None): the reasoning ends there instead."""
        detect, limit, min_tokens = self._turn(role, done)
        try:
            request = self._request(role, prompt, self._index, limit, min_tokens, detect)
        except RequestRejected:
            return  # the real turn will report it
        if request is None:
            return
        self._prefill.drop(role)
        self._early.start(role, self.backends[role], request)

    async def _append_marker(self, reason: SegmentEndReason) -> AsyncIterator[RelayEvent]:
        """End the reasoning for the model: budget spent or end of text without the marker."""
        self._early.drop()
        tail = self._seq.tail
        text = ("" if tail.endswith("\n") or not tail else "\n") + self.marker + "\n\n"
        ids: list[int] = []
        if self._handoff == "token_ids":
            ids = await self.backends[self.answer_model].tokenize(text, add_special_tokens=False)
        self._seq.extend(text, ids, 0)
        yield StageChanged(t=self._clock(), stage="answer", appended_marker=True, inserted_text=text)

    async def _answer_stage(self) -> AsyncIterator[RelayEvent]:
        self._early.drop()
        role = self.answer_model
        trigger: SegmentTrigger = "reasoning_end"
        while True:
            left = self.max_tokens - self._seq.tokens
            if left <= 0:
                return
            outcome = _SegmentOutcome(reason="eos", kept=0)
            async for event in self._segment(role, "answer", trigger, None, left, 0, "none", outcome):
                yield event
            if outcome.reason != "length" or outcome.kept == 0:
                return
            trigger = "resume"  # the request hit the server's context cap, not the budget: go on

    async def _segment(
        self,
        role: Role,
        stage: Stage,
        trigger: SegmentTrigger,
        cue: str | None,
        limit: int,
        min_tokens: int,
        detect: Detect,
        outcome: _SegmentOutcome,
    ) -> AsyncIterator[RelayEvent]:
        """One request to one model, streamed until the server ends it or the scanner finds a cut."""
        index = self._index
        self._index += 1
        prompt = self._prompt(role)
        prompt_len = self._prompt_len_estimate(role, prompt)
        request = self._request(role, prompt, index, limit, min_tokens, detect)
        if request is None:
            self._early.drop()
            outcome.reason, outcome.kept = "length", 0
            return
        cancelled_before = self._prefill.cancelled
        early = self._early.adopt(role, request)
        if early is None:
            self._prefill.settle(role, prompt)
        warm = _Warmup(
            idle="small" if role == "large" else "large",
            writer=role,
            feed_every=self._feed_every if stage == "reasoning" else 0,
            early_starts=self.options.early_start and self.mode == "relay" and stage == "reasoning",
        )
        yield SegmentStarted(
            t=self._clock(),
            index=index,
            model=role,
            stage=stage,
            trigger=trigger,
            cue=cue,
            prompt_tokens=prompt_len,
        )
        sent = early.sent_t if early is not None else self._clock()
        single = detect == "none"
        scanner = CutScanner(
            context=self._seq.tail,
            detect=detect,
            stage=stage,
            matcher=self.matcher,
            marker=self.marker,
            end_texts=self.profile.spec(role).prompt.end_texts,
            min_tokens=min_tokens,
            answer_in_stream=single and self.answer_model == role,
            budget_left=self.max_tokens - self.answer_reserve - self._seq.tokens if single else None,
            text_offset=len(self._seq.text) - len(self._seq.tail),
        )
        tokens = scanner.tokens
        emitted = 0
        first_t: float | None = None
        first_arrival: float | None = None
        last_t: float | None = None
        first_chunk_tokens = 0
        end = StreamEnd()
        try:
            source = (
                early.items()
                if early is not None
                else timed(self.backends[role].stream(request), self._clock)
            )
            async with aclosing(source) as stream:
                async for arrived, item in stream:
                    if isinstance(item, StreamEnd):
                        end = item
                        break
                    if not item.tokens:
                        continue
                    now = self._clock()
                    if first_t is None:
                        first_t, first_arrival, first_chunk_tokens = now, arrived, len(item.tokens)
                    last_t = now
                    for token in item.tokens:
                        scanner.add(token)
                    cut = scanner.cut
                    if cut is not None:
                        cut.index = max(cut.index, emitted - 1)  # never take back what was shown
                    upto = len(tokens) if cut is None else cut.index + 1
                    answer_from = scanner.answer_from
                    if answer_from is not None and emitted < answer_from <= upto:
                        yield self._delta(role, index, "reasoning", tokens[emitted:answer_from])
                        emitted = answer_from
                        self._record(tokens[:answer_from], scanner.text_of(0, answer_from))
                        yield StageChanged(t=self._clock(), stage="answer")
                    if upto > emitted:
                        yield self._delta(
                            role, index, "answer" if answer_from is not None else stage, tokens[emitted:upto]
                        )
                        emitted = upto
                    if cut is not None:
                        break
                    self._anticipate(warm, scanner, emitted)
        except BackendError:
            outcome.reason = "error"
            raise
        kept = emitted
        # An adopted early stream may have buffered tokens past the cut that the loop never read.
        unread = max(early.received_tokens - len(tokens), 0) if early is not None else 0
        answer_from = scanner.answer_from
        self._record(tokens[answer_from or 0 : kept], scanner.text_of(answer_from or 0, kept))
        cut = scanner.cut
        reason = (
            cut.reason if cut is not None else self._end_reason(end, stage, in_answer=answer_from is not None)
        )
        if cut is not None and cut.cue is not None:
            self._learn_cue_ending(role, cut.cue)
            yield CueHit(t=self._clock(), cue=cut.cue, segment=index, offset=cut.cue_offset or 0)
        gap = first_t - self._last_token_t if first_t is not None and self._last_token_t is not None else None
        if last_t is not None:
            self._last_token_t = last_t
        outcome.reason, outcome.kept, outcome.cue = reason, kept, cut.cue if cut else None
        outcome.stage_changed_in_stream = answer_from is not None
        yield SegmentEnded(
            t=self._clock(),
            index=index,
            model=role,
            stage=stage,
            reason=reason,
            tokens=kept,
            discarded_tokens=len(tokens) - kept + unread,
            ttft_s=None if first_arrival is None else first_arrival - sent,
            first_token_t=first_t,
            last_token_t=last_t,
            decode_tokens=max(len(tokens) - first_chunk_tokens, 0),
            gap_s=gap,
            prefill_feeds=self._take_feeds(),
            prefill_cancelled=self._prefill.cancelled - cancelled_before,
            early_start=early is not None,
            early_cancelled=self._early.take_cancelled(),
        )

    def _feed_due(self, warm: _Warmup, emitted: int) -> bool:
        """A routine feed is due every `feed_every` tokens: at prompt lengths that are multiples of it.

        With text handoffs the receiver's token count is unknown here: every eighth of that, the feed
        asks the idle server to count (it tokenizes off its engine) and sends only a new whole block.
        """
        if self._handoff != "token_ids":
            return emitted - warm.fed_upto >= max(warm.feed_every // 8, 1)
        done = len(self._prefix_ids[warm.idle]) + len(self._seq.ids)
        return (done + emitted) // warm.feed_every > (done + warm.fed_upto) // warm.feed_every

    def _end_reason(self, end: StreamEnd, stage: Stage, in_answer: bool) -> SegmentEndReason:
        """Why a stream the client did not cut ended."""
        # vLLM reports a stop *string* by its text and a stop *token* by its id: an integer is an end of
        # text (Qwen3's second EOS id, 151643, listed in generation_config), not a cue to resume after.
        if end.finish_reason == "stop" and isinstance(end.stop_reason, str) and stage == "reasoning":
            return "server_stop"  # a stop string the client does not count (inside the first min_tokens)
        if end.finish_reason == "length":
            if in_answer or stage == "answer":
                return "length"
            if self._seq.tokens >= self.max_tokens - self.answer_reserve:
                return "reasoning_budget"
            return "small_limit"
        return "eos"

    def _anticipate(self, warm: _Warmup, scanner: CutScanner, emitted: int) -> None:
        """Warm the idle model while this one writes: early starts at a pending cut, else feeds."""
        pending_cuts = scanner.pending(emitted)
        pending = bool(pending_cuts)
        if warm.early_starts:
            if self._early and (not pending or warm.early_upto != emitted):
                self._early.drop()
            if pending and not self._early:
                ahead = self._feed_prompt(warm.idle, scanner.tokens[:emitted], scanner.text_of(0, emitted))
                for suffix in self._likely_suffixes(warm.writer, pending_cuts):
                    prompt = self._with_suffix(ahead, suffix)
                    if prompt is not None:
                        self._start_early(
                            warm.idle, prompt, self._seq.tokens + emitted + (1 if suffix else 0)
                        )
                warm.early_upto = emitted
            if self._early:
                return  # the early requests are reading the same tokens: a feed would only compete
        if warm.feed_every and emitted > warm.fed_upto and (pending or self._feed_due(warm, emitted)):
            ahead = self._feed_prompt(warm.idle, scanner.tokens[:emitted], scanner.text_of(0, emitted))
            if self._feed(warm.idle, ahead, urgent=pending, block=None if pending else warm.feed_every):
                warm.fed_upto = emitted

    def _record(self, tokens: list[Token], text: str) -> None:
        ids = [t.id for t in tokens if t.id is not None]
        self._seq.extend(text, ids, len(tokens))

    def _delta(self, role: Role, segment: int, stage: Stage, tokens: list[Token]) -> TokenDelta:
        return TokenDelta(
            t=self._clock(),
            model=role,
            segment=segment,
            stage=stage,
            text="".join(t.text for t in tokens),
            token_ids=[t.id for t in tokens if t.id is not None],
            margins=[
                margin_from_logprobs(t.top_logprobs.values()) if t.top_logprobs else None for t in tokens
            ],
        )
