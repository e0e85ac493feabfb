"""The typed events of one relay generation: the only thing front ends ever see of the core.

Every event is a pydantic model with a literal `type`, so a JSONL line round-trips through
`parse_event` and a saved trace replays exactly as it was streamed. Times (`t`) are seconds since
the run started, which is what replay needs and what keeps traces comparable across machines.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Role = Literal["large", "small"]
Mode = Literal["relay", "large", "small"]
Stage = Literal["reasoning", "answer"]
SegmentTrigger = Literal["start", "cue", "sentence_end", "small_limit", "reasoning_end", "resume"]
SegmentEndReason = Literal[
    "cue",  # the large model wrote a switch cue
    "sentence_end",  # the small model finished its sentence
    "small_limit",  # the small model ran past its per-turn cap without ending a sentence
    "reasoning_end",  # the reasoning marker (e.g. </think>) was written
    "reasoning_budget",  # the reasoning budget ran out; the marker was appended
    "eos",  # the model ended its text
    "length",  # the answer used up the whole budget
    "context_limit",  # the server's context window is full (prompt + generated tokens)
    "server_stop",  # the server stopped on a cue the relay does not count; the same model resumes
    "cancelled",
    "error",
]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)
    t: float = Field(description="seconds since the run started")


class RunStarted(_Event):
    type: Literal["run_started"] = "run_started"
    run_id: str
    mode: Mode
    profile: str
    large_model: str
    small_model: str
    answer_model: Role
    messages: list[dict[str, str]]
    max_tokens: int
    cues: list[str]
    handoff: Literal["token_ids", "text"]
    cue_detection: Literal["client", "server"] = "client"


class StageChanged(_Event):
    type: Literal["stage"] = "stage"
    stage: Stage
    appended_marker: bool = Field(False, description="the marker was added by the relay, not written")
    inserted_text: str = Field(
        "",
        description="text the relay appended to the reasoning: the marker, or the blank line after a "
        "written one",
    )


class SegmentStarted(_Event):
    type: Literal["segment_start"] = "segment_start"
    index: int
    model: Role
    stage: Stage
    trigger: SegmentTrigger
    cue: str | None = None
    prompt_tokens: int | None = Field(None, description="prompt length when the prompt is token ids")


class TokenDelta(_Event):
    """One streamed chunk: usually one token, sometimes several."""

    type: Literal["token"] = "token"
    model: Role
    segment: int
    stage: Stage
    text: str
    token_ids: list[int] = Field(default_factory=list)
    margins: list[float | None] = Field(
        default_factory=list, description="p1 - p2 per token; None where the server sent no top-k"
    )


class CueHit(_Event):
    type: Literal["cue_hit"] = "cue_hit"
    cue: str
    segment: int
    offset: int = Field(description="character offset of the cue in the reasoning text")


class Switch(_Event):
    type: Literal["switch"] = "switch"
    from_model: Role
    to_model: Role
    reason: SegmentEndReason
    cue: str | None = None


class SegmentEnded(_Event):
    type: Literal["segment_end"] = "segment_end"
    index: int
    model: Role
    stage: Stage
    reason: SegmentEndReason
    tokens: int = Field(description="tokens kept in the output")
    discarded_tokens: int = Field(0, description="tokens generated past a cut and dropped")
    ttft_s: float | None = Field(None, description="request sent -> first token")
    first_token_t: float | None = None
    decode_tokens: int = Field(
        0, description="tokens received after the first chunk: what the decode span covers"
    )
    last_token_t: float | None = None
    gap_s: float | None = Field(None, description="previous segment's last token -> this first token")
    prefill_feeds: int = Field(0, description="feeds sent to the idle server while this segment streamed")
    prefill_cancelled: int = Field(
        0, description="feeds dropped during this segment (replaced, or stale at its start)"
    )
    early_start: bool = Field(
        False, description="this segment's request was sent before the previous cut was confirmed"
    )
    early_cancelled: int = Field(
        0, description="early starts cancelled during this segment (their cut did not come)"
    )
    prompt_tokens: int | None = Field(
        None,
        description="the server's own count of this request's prompt (a text prompt's is known only here)",
    )


# Tokens that arrive within less than this were held back and sent as a burst (a server's first request
# compiling, say: 9 tokens in 3 ms after a 3.4 s TTFT read as 2,248 tok/s): no rate from them.
MIN_DECODE_SPAN_S = 0.05


class ModelStats(BaseModel):
    """Per-model accounting of one run."""

    tokens: int = 0
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    discarded_tokens: int = 0
    segments: int = 0
    requests: int = 0
    decode_s: float = Field(0.0, description="time between first and last token, summed over segments")
    decode_steps: int = Field(0, description="tokens received after each segment's first chunk")
    early_wasted_tokens: int = Field(0, description="tokens streamed by this model's cancelled early starts")
    ttft_s: list[float] = Field(default_factory=list)

    @property
    def decode_tok_s(self) -> float | None:
        """Streaming decode rate: tokens after each segment's first chunk over first -> last token time."""
        steps = self.decode_steps
        return steps / self.decode_s if self.decode_s >= MIN_DECODE_SPAN_S and steps > 0 else None


class RunSummary(BaseModel):
    mode: Mode
    profile: str
    reasoning: str = ""
    answer: str = ""
    large: ModelStats = Field(default_factory=ModelStats)
    small: ModelStats = Field(default_factory=ModelStats)
    switches: int = 0
    cue_hits: dict[str, int] = Field(default_factory=dict)
    wall_s: float = 0.0
    ttft_s: float | None = None
    switch_gaps_s: list[float] = Field(default_factory=list)
    reasoning_ended_by: Literal["marker", "budget", "eos", "context_limit", "none"] = "none"
    prefill_feeds: int = 0
    prefill_cancelled: int = 0
    early_starts: int = Field(
        0, description="segments whose request went out before the previous cut was confirmed"
    )
    early_cancelled: int = Field(
        0, description="early starts cancelled because the expected cut did not come"
    )
    early_wasted_tokens: int = Field(0, description="tokens the cancelled early starts streamed, all dropped")
    cue_detection: Literal["client", "server"] = "client"
    discarded_after_cues: int = Field(
        0, description="tokens streamed past a cue (boundary look-ahead), dropped"
    )
    finish_reason: SegmentEndReason | None = None

    @property
    def total_tokens(self) -> int:
        return self.large.tokens + self.small.tokens

    @property
    def large_share(self) -> float | None:
        return self.large.tokens / self.total_tokens if self.total_tokens else None

    def stats(self, role: Role) -> ModelStats:
        return self.large if role == "large" else self.small


class RunFinished(_Event):
    type: Literal["finished"] = "finished"
    summary: RunSummary


class ErrorInfo(BaseModel):
    kind: str = Field(
        description="connection, timeout, http, busy, server, protocol, prompt_too_long, cancelled, internal"
    )
    message: str
    model: Role | None = None
    status: int | None = None
    retry_after_s: float | None = Field(default=None, description="how long a busy server asked to wait")


class RunFailed(_Event):
    type: Literal["failed"] = "failed"
    error: ErrorInfo
    summary: RunSummary = Field(description="what was generated before the failure")


RelayEvent = Annotated[
    RunStarted
    | StageChanged
    | SegmentStarted
    | TokenDelta
    | CueHit
    | Switch
    | SegmentEnded
    | RunFinished
    | RunFailed,
    Field(discriminator="type"),
]

_adapter: TypeAdapter[RelayEvent] = TypeAdapter(RelayEvent)


def parse_event(line: str | bytes) -> RelayEvent:
    """Parse one JSONL line back into its event class."""
    return _adapter.validate_json(line)


def dump_event(event: RelayEvent) -> str:
    return event.model_dump_json()


_TOKEN_DELTA_FIELDS = frozenset(TokenDelta.model_fields)


def token_delta(
    t: float,
    model: Role,
    segment: int,
    stage: Stage,
    text: str,
    token_ids: list[int],
    margins: list[float | None],
) -> TokenDelta:
    """A `TokenDelta` from values the relay typed itself, without validating them again.

    The same event as `TokenDelta(...)` (equal, same JSON), for the one event built per streamed chunk:
    the controller's arguments are typed by construction, so pydantic's check is pure cost there."""
    event = object.__new__(TokenDelta)
    values = {
        "t": t,
        "type": "token",
        "model": model,
        "segment": segment,
        "stage": stage,
        "text": text,
        "token_ids": token_ids,
        "margins": margins,
    }
    object.__setattr__(event, "__dict__", values)
    # A set of its own, as pydantic gives every model: `model_copy` (the race's retiming) updates it.
    object.__setattr__(event, "__pydantic_fields_set__", set(_TOKEN_DELTA_FIELDS))
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event
