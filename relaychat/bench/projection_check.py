"""Does the projection hold where it can be checked? Project runs made on reachable servers through
those same servers' cost model (measured right before and right after the runs, averaged) and compare
with the runs' measured wall time. What `tests/benchmarks/test_projection_error.py` records.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from relaychat.bench.runner import BenchPlan, run_interleaved
from relaychat.bench.scenarios import parse_scenario
from relaychat.core.events import Role
from relaychat.core.profile import PairProfile
from relaychat.projection.costmodel import CostModel, CostPoint, ModelCosts
from relaychat.projection.measured import averaged, measure_pair
from relaychat.projection.project import project
from relaychat.projection.shape import load_shape
from relaychat.relay import Relay
from relaychat.serving.cost_probe import served_block_size, served_model
from relaychat.serving.hardware import read_cpu


@dataclass
class TraceError:
    trace: str
    mode: str
    tokens: int
    switches: int
    measured_s: float
    projected_s: float

    @property
    def error(self) -> float:
        return (self.projected_s - self.measured_s) / self.measured_s


@dataclass
class Validation:
    """Two projections of the same runs: through the probe's costs (before and after, averaged), and
    through the same costs with each server's decode step as the server itself measured it during
    the runs (its ITL histogram). On a busy shared machine the second is the one that can hold."""

    profile: str
    cpu: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    traces: list[TraceError] = field(default_factory=list)
    probe_only: list[TraceError] = field(default_factory=list)
    decode_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)  # probe / servers

    @staticmethod
    def _error(traces: list[TraceError], mode: str | None) -> float:
        chosen = [t for t in traces if mode is None or t.mode == mode]
        measured = sum(t.measured_s for t in chosen)
        return (sum(t.projected_s for t in chosen) - measured) / measured if measured else 0.0

    def total_error(self, mode: str | None = None) -> float:
        return self._error(self.traces, mode)

    def probe_error(self, mode: str | None = None) -> float:
        return self._error(self.probe_only, mode)

    def as_json(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "cpu": self.cpu,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "decode_ms": self.decode_ms,
            "total_error": round(self.total_error(), 4),
            "relay_error": round(self.total_error("relay"), 4),
            "large_error": round(self.total_error("large"), 4),
            "probe_only_error": round(self.probe_error(), 4),
            "probe_only_relay_error": round(self.probe_error("relay"), 4),
            "probe_only_large_error": round(self.probe_error("large"), 4),
            "traces": [
                {
                    "trace": t.trace,
                    "mode": t.mode,
                    "tokens": t.tokens,
                    "switches": t.switches,
                    "measured_s": round(t.measured_s, 3),
                    "projected_s": round(t.projected_s, 3),
                    "error": round(t.error, 4),
                }
                for t in self.traces
            ],
        }


def measure_now(profile: PairProfile, decode_tokens: int = 48) -> CostModel:
    served: dict[Role, str] = {}
    for role in ("large", "small"):
        spec = profile.spec(role)
        served[role] = spec.served_name or served_model(spec.url) or ""
    cpu = read_cpu()
    block = served_block_size(profile.large.url) or 16
    return measure_pair(profile, served, block, cpu.describe(), cpu.key, decode_tokens)


async def validate(
    relay: Relay,
    prompts: Sequence[str],
    folder: Path,
    max_tokens: int | None = None,
    modes: Sequence[str] = ("large", "relay"),
) -> Validation:
    """Costs, then each prompt in each mode (from empty caches, taking turns), then costs again."""
    profile = relay.profile
    load_before = os.getloadavg()
    before = measure_now(profile)
    plan = BenchPlan(list(prompts), max_tokens=max_tokens, trace_dir=folder)
    metrics = await run_interleaved([parse_scenario(m) for m in modes], relay, plan)
    after = measure_now(profile)
    costs = averaged([before, after])
    sums: dict[str, list[float]] = {"large": [0.0, 0.0], "small": [0.0, 0.0]}
    for scenario in metrics:
        for role, delta in scenario.servers.items():
            sums[role][0] += delta.itl_sum
            sums[role][1] += delta.itl_count
    steps = {role: 1000 * total / count for role, (total, count) in sums.items() if count}
    during = with_decode(costs, steps)
    result = Validation(profile.name, read_cpu().describe(), load_before, os.getloadavg())
    result.decode_ms = {
        role: {"probe": costs.role(role).decode_ms(0), "servers_during_runs": steps.get(role)}
        for role in ("large", "small")
    }
    for path in sorted(folder.glob("*.jsonl")):
        shape = load_shape(path)
        for model, into in ((during, result.traces), (costs, result.probe_only)):
            p = project(shape, model)
            assert p.as_run_s is not None
            into.append(
                TraceError(path.name, shape.mode, shape.tokens, shape.switches, shape.wall_s, p.as_run_s)
            )
    return result


def with_decode(costs: CostModel, steps: Mapping[str, float]) -> CostModel:
    """`costs` with each role's decode step replaced by `steps[role]` (ms) at every context, chunk
    costs moved by the same amount: the servers' own step during the runs, the probe's prefill."""

    def moved(role: Role) -> ModelCosts:
        model = costs.role(role)
        step = steps.get(role)
        if step is None:
            return model
        points = [
            CostPoint(context=p.context, ms={k: max(v - p.ms[1] + step, step) for k, v in p.ms.items()})
            for p in model.points
        ]
        return model.model_copy(update={"points": points})

    return costs.model_copy(update={"large": moved("large"), "small": moved("small")})
