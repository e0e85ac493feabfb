"""Named benchmark scenarios: a mode, a concurrency, and optional A/B variants.

A scenario is written `MODE[-xN][+VARIANT...]`, e.g. `relay`, `relay-x4`, `relay+nocues`. Every
scenario is measured the same way and produces the same metrics record, so an A/B comparison is
just two scenarios side by side. A new variant is one entry in `VARIANTS`: the RelayOptions fields
and/or profile fields it overrides (e.g. a future `+prefill` / `+noprefill` pair for warm
handoffs, or `+servercues` for server-side cue detection).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relaychat.core.events import Mode


@dataclass(frozen=True)
class Variant:
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)  # RelayOptions overrides
    profile: Mapping[str, Any] = field(default_factory=dict)  # PairProfile overrides


VARIANTS: dict[str, Variant] = {
    "nocues": Variant("relay machinery with an empty cue set: no switch ever fires", options={"cues": ()}),
    "answer-large": Variant("the large model writes the answer", options={"answer_model": "large"}),
    "prefill": Variant(
        "warm handoffs: feed the idle server while the other writes", options={"prefill_ahead": True}
    ),
    "noprefill": Variant(
        "no warm handoffs: a switch prefills everything unseen", options={"prefill_ahead": False}
    ),
    "servercues": Variant(
        "cues as boundary-encoded server stop strings", options={"cue_detection": "server"}
    ),
    "clientcues": Variant(
        "cues detected by the client on the token stream", options={"cue_detection": "client"}
    ),
    "early": Variant(
        "send the next model its request while a cut waits for its boundary", options={"early_start": True}
    ),
    "noearly": Variant(
        "the next model's request goes out after the cut is confirmed", options={"early_start": False}
    ),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: Mode = "relay"
    concurrency: int = 1
    variants: tuple[str, ...] = ()

    def options(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for name in self.variants:
            merged.update(VARIANTS[name].options)
        return merged

    def profile_update(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for name in self.variants:
            merged.update(VARIANTS[name].profile)
        return merged


_SPEC = re.compile(r"^(large|small|relay)(?:-x(\d+))?((?:\+[\w-]+)*)$")


class ScenarioError(ValueError):
    pass


def parse_scenario(spec: str) -> Scenario:
    match = _SPEC.match(spec.strip())
    if not match:
        raise ScenarioError(
            f"bad scenario {spec!r}: write MODE[-xN][+VARIANT], e.g. relay-x4 or relay+nocues"
        )
    mode, count, tail = match.groups()
    variants = tuple(v for v in tail.split("+") if v)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        known = ", ".join(VARIANTS)
        raise ScenarioError(f"unknown variant {unknown[0]!r} in {spec!r}; known variants: {known}")
    concurrency = int(count) if count else 1
    if concurrency < 1:
        raise ScenarioError(f"concurrency in {spec!r} must be at least 1")
    return Scenario(name=spec.strip(), mode=mode, concurrency=concurrency, variants=variants)  # type: ignore[arg-type]


def parse_scenarios(text: str) -> list[Scenario]:
    specs = [s for s in text.split(",") if s.strip()]
    if not specs:
        raise ScenarioError("no scenario given")
    return [parse_scenario(s) for s in specs]


def default_scenarios(concurrency: int) -> list[Scenario]:
    """One model alone (both), the relay, and the relay under load."""
    names = ["large", "small", "relay"] + ([f"relay-x{concurrency}"] if concurrency > 1 else [])
    return [parse_scenario(n) for n in names]
