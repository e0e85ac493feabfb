"""A cost model of servers RelayChat can reach, measured now with the cost probe (any vLLM server).

The probe gives, per server: decode ms/token (at a short and a longer context), prefill ms per
uncached prompt token, and the cached floor (a relay-shaped request with one uncached token). In the
cost-model format: `ms["1"]` is the decode step, a k-token chunk costs the decode step plus k - 1
prefill tokens, and `request_ms` is the floor minus one decode step, so that a request with k uncached
tokens reaches its first token at floor + (k - 1) x prefill, as measured.
"""

from __future__ import annotations

from collections.abc import Mapping

from relaychat.core.events import Role
from relaychat.core.profile import PairProfile
from relaychat.projection.costmodel import CostModel, CostPoint, ModelCosts, Provenance
from relaychat.serving.cost_probe import CostProbe, ProbePlan
from relaychat.serving.costs import ServerCosts, now

CHUNKS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LONG_CONTEXT = 512  # the second context decode is measured at (the probe's filler text holds ~1,500)

CAVEATS = [
    "Measured on a shared machine in a few seconds: each figure is a best or median of a few tries, "
    "and other work on the machine makes all of them slower.",
    "Prefill is taken as linear in the uncached tokens (the slope between a short and a long fresh "
    "prompt); decode is measured at two contexts and interpolated between them.",
    "The client's own work per token (parsing, cue detection, writing the trace) is not in these "
    "costs; on a CPU pair it is small next to a decode step.",
]


def model_costs(name: str, costs: ServerCosts, long_decode_ms: float | None, long_context: int) -> ModelCosts:
    decode = costs.decode_ms_per_token
    points = [CostPoint(context=0, ms=_chunks(decode, costs.prefill_ms_per_token))]
    if long_decode_ms is not None:
        points.append(CostPoint(context=long_context, ms=_chunks(long_decode_ms, costs.prefill_ms_per_token)))
    return ModelCosts(
        name=name,
        request_ms=max(costs.cached_ttft_ms - decode, 0.0),
        request_basis="measured: cached floor minus one decode step",
        points=points,
    )


def _chunks(decode_ms: float, prefill_ms: float) -> dict[int, float]:
    return {k: round(decode_ms + prefill_ms * (k - 1), 4) for k in CHUNKS}


def cost_model_of(
    profile: PairProfile,
    costs: Mapping[Role, ServerCosts],
    long_decode: Mapping[Role, float | None],
    device: str,
    block_size: int,
    long_context: int = LONG_CONTEXT,
) -> CostModel:
    large, small = profile.large.display_name or "large", profile.small.display_name or "small"
    return CostModel(
        name=f"measured-{profile.name}",
        title=f"{large} / {small} ({profile.name}, measured)",
        block_size=block_size,
        provenance=Provenance(
            device=device,
            measured_at=now(),
            method="relaychat's cost probe against the running servers: TTFT of fresh short and long "
            "prompts (prefill slope), the long prompt resent (cached floor), sampled streams that "
            f"ignore EOS at ~8 and ~{long_context} tokens of context (decode).",
            source="measured",
            caveats=CAVEATS,
        ),
        large=model_costs(large, costs["large"], long_decode["large"], long_context),
        small=model_costs(small, costs["small"], long_decode["small"], long_context),
    )


def measure_pair(
    profile: PairProfile,
    served: Mapping[Role, str],
    block_size: int,
    device: str,
    machine: str,
    decode_tokens: int = 48,
) -> CostModel:
    """Probe both servers of `profile` (first URL of each role) and return their cost model.

    Decode is timed over `decode_tokens` per context: on a shared machine a longer stream averages
    over more of the other work's comings and goings."""
    costs: dict[Role, ServerCosts] = {}
    long_decode: dict[Role, float | None] = {}
    plan = ProbePlan(block_size=block_size, decode_tokens=decode_tokens)
    for role in ("large", "small"):
        spec = profile.spec(role)
        probe = CostProbe(spec.url, served[role], spec.sampling)
        try:
            costs[role] = probe.measure("served", machine, plan)
            long_decode[role] = probe.decode_ms_at(LONG_CONTEXT, decode_tokens)
        finally:
            probe.close()
    return cost_model_of(profile, costs, long_decode, device, block_size)


def averaged(models: list[CostModel]) -> CostModel:
    """Point by point mean of cost models of the same pair measured at different times (before and
    after a run, say): what the run most likely met on a machine whose load drifts."""
    first = models[0]

    def mean_role(role: Role) -> ModelCosts:
        each = [m.role(role) for m in models]
        points = [
            CostPoint(
                context=point.context,
                ms={k: sum(m.points[i].ms[k] for m in each) / len(each) for k in point.ms},
            )
            for i, point in enumerate(each[0].points)
        ]
        request = sum(m.request_ms for m in each) / len(each)
        return each[0].model_copy(update={"points": points, "request_ms": request})

    return first.model_copy(update={"large": mean_role("large"), "small": mean_role("small")})
