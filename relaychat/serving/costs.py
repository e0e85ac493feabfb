"""What a token costs on one server: prefill per uncached prompt token, decode per token, cached floor.

These three numbers decide what a relay switch costs (the receiver prefills the tokens it has not
seen, up to one partial KV block, then decodes) and so which serving setup and feed policy to use.
They are measured against the running server in a few seconds and cached as JSON per (model, dtype,
KV block size, machine), under the cache dir; a missing entry is measured again.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from relaychat.paths import cache_dir

Source = Literal["measured", "prior"]


class ServerCosts(BaseModel):
    """Per-token costs of one model served in one setup on one machine (milliseconds)."""

    model: str
    dtype: str
    block_size: int
    machine: str = Field("", description="CpuInfo.key of the machine measured on ('' for a prior)")
    prefill_ms_per_token: float = Field(ge=0, description="slope of TTFT over uncached prompt tokens")
    decode_ms_per_token: float = Field(gt=0, description="inter-token latency of a sampled stream")
    cached_ttft_ms: float = Field(
        ge=0, description="TTFT of a relay-shaped request with one uncached token: a switch's floor"
    )
    request_ms: float | None = Field(None, description="TTFT at zero uncached tokens (the slope's intercept)")
    source: Source = "measured"
    measured_at: str | None = None

    @property
    def prefill_decode_ratio(self) -> float:
        return self.prefill_ms_per_token / self.decode_ms_per_token

    def describe(self) -> str:
        label = "" if self.source == "measured" else " (prior)"
        return (
            f"prefill {self.prefill_ms_per_token:.1f} ms/token, "
            f"decode {self.decode_ms_per_token:.1f} ms/token, cached TTFT {self.cached_ttft_ms:.0f} ms{label}"
        )


def costs_dir() -> Path:
    return cache_dir() / "costs"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def costs_path(model: str, dtype: str, block_size: int, machine: str) -> Path:
    return costs_dir() / _slug(machine) / f"{_slug(model)}-{_slug(dtype)}-b{block_size}.json"


def load_costs(model: str, dtype: str, block_size: int, machine: str) -> ServerCosts | None:
    """The cached measurement, or None when missing or unreadable (then it is measured again)."""
    path = costs_path(model, dtype, block_size, machine)
    try:
        return ServerCosts.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError):
        return None


def save_costs(costs: ServerCosts) -> Path:
    path = costs_path(costs.model, costs.dtype, costs.block_size, costs.machine)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamped = costs.model_copy(update={"measured_at": costs.measured_at or now()})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stamped.model_dump(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
