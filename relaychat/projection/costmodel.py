"""A cost model of a relay pair, as data: what each model's forward passes cost, with provenance.

One JSON file per pair (`relaychat-costs/1`). Per role (`large`, `small`):
- `points`: forward-pass times in ms at a few KV-cache lengths (`context`): `ms["1"]` is one decode
  step, `ms["k"]` a k-token prefill chunk appended to that cache (what a handoff costs the model that
  takes over: it must read the other model's tokens before it writes its own);
- `request_ms`: what a request costs beyond its forward passes (HTTP, scheduling, detokenizer
  set-up), paid once per segment; `request_basis` says whether it was measured or assumed.
Between measured points costs are linear in chunk size and in context; outside them they are held
at the nearest context and extended linearly in chunk size (chunks of the largest size measured).
`provenance` says where the figures come from, how they were taken and where they are known to err.
"""

from __future__ import annotations

import bisect
import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from relaychat.core.events import Role

FORMAT = "relaychat-costs/1"


class CostModelError(ValueError):
    """A cost model that cannot be read or used; the message names the file and the problem."""


class CostPoint(BaseModel):
    """Forward-pass times (ms) by chunk size, with `context` tokens already in the KV cache."""

    model_config = ConfigDict(frozen=True)
    context: int = Field(ge=0)
    ms: dict[int, float]

    @field_validator("ms")
    @classmethod
    def _needs_decode(cls, value: dict[int, float]) -> dict[int, float]:
        if 1 not in value:
            raise ValueError('needs ms["1"], the decode step')
        if any(k < 1 or v <= 0 for k, v in value.items()):
            raise ValueError("chunk sizes must be >= 1 and times > 0")
        return dict(sorted(value.items()))


class ModelCosts(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    request_ms: float = Field(0.0, ge=0)
    request_basis: str = ""
    points: list[CostPoint] = Field(min_length=1)

    @field_validator("points")
    @classmethod
    def _by_context(cls, value: list[CostPoint]) -> list[CostPoint]:
        return sorted(value, key=lambda p: p.context)

    def decode_ms(self, context: float) -> float:
        return self.chunk_ms(1, context)

    def chunk_ms(self, tokens: int, context: float) -> float:
        """One forward pass over `tokens` new tokens with `context` tokens cached (0 for no tokens)."""
        if tokens <= 0:
            return 0.0
        points = self.points
        contexts = [p.context for p in points]
        i = bisect.bisect_left(contexts, context)
        if i == 0:
            return _by_chunk(points[0].ms, tokens)
        if i >= len(points):
            return _by_chunk(points[-1].ms, tokens)
        lo, hi = points[i - 1], points[i]
        w = (context - lo.context) / (hi.context - lo.context)
        return (1 - w) * _by_chunk(lo.ms, tokens) + w * _by_chunk(hi.ms, tokens)

    def decode_span_ms(self, tokens: int, context: float) -> float:
        """`tokens` decode steps starting at `context` (the cost grows with the cache)."""
        if tokens <= 0:
            return 0.0
        return tokens * self.decode_ms(context + (tokens - 1) / 2)


def _by_chunk(ms: dict[int, float], tokens: int) -> float:
    sizes = list(ms)
    if tokens in ms:
        return ms[tokens]
    largest = sizes[-1]
    if tokens > largest:
        return ms[largest] * tokens / largest
    j = bisect.bisect_left(sizes, tokens)
    a, b = sizes[j - 1], sizes[j]
    return ms[a] + (ms[b] - ms[a]) * (tokens - a) / (b - a)


class Provenance(BaseModel):
    model_config = ConfigDict(frozen=True)
    device: str
    measured_at: str | None = None
    method: str
    source: Literal["table", "measured"] = "table"
    caveats: list[str] = Field(default_factory=list)


class CostModel(BaseModel):
    """Both models of a pair, and the prefix cache's block size (a cache hit covers whole blocks)."""

    model_config = ConfigDict(frozen=True)
    format: Literal["relaychat-costs/1"] = "relaychat-costs/1"
    name: str
    title: str
    block_size: int = Field(16, ge=1)
    provenance: Provenance
    large: ModelCosts
    small: ModelCosts

    def role(self, role: Role) -> ModelCosts:
        return self.large if role == "large" else self.small

    @property
    def cost_ratio(self) -> float:
        """Small decode step over large decode step, at the smallest context both tables have."""
        context = max(self.large.points[0].context, self.small.points[0].context)
        return self.small.decode_ms(context) / self.large.decode_ms(context)

    def dump(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=1) + "\n"


BUNDLED = {
    "h200-qwen3": "h200-qwen3-1.7b-32b.json",
    "h200-r1": "h200-r1-1.5b-32b.json",
}
DEFAULT_TARGET = "h200-qwen3"


def bundled_names() -> list[str]:
    return list(BUNDLED)


def parse_cost_model(text: str, where: str) -> CostModel:
    try:
        return CostModel.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(p) for p in first["loc"]) or "the file"
        raise CostModelError(f"{where} is not a RelayChat cost model ({place}: {first['msg']})") from exc


def load_cost_model(target: str | Path) -> CostModel:
    """A bundled table by name (`h200-qwen3`, `h200-r1`) or a cost-model file by path."""
    name = str(target)
    if name in BUNDLED:
        text = resources.files("relaychat.projection").joinpath("tables", BUNDLED[name]).read_text("utf-8")
        return parse_cost_model(text, name)
    path = Path(name)
    if not path.is_file():
        names = ", ".join(BUNDLED)
        raise CostModelError(f"no cost model {name!r}: give a file, or one of {names}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CostModelError(f"cannot read {path}: {exc}") from exc
    return parse_cost_model(text, str(path))
