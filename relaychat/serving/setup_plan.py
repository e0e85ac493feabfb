"""Put the setup decision to work: gather costs, honour overrides, measure what was started.

Costs for a candidate come, best first, from: a measurement of that exact (model, dtype, block,
machine); one of the same model and machine in another block size or dtype, carried over by the CPU
class's ratios (`serving.priors`); the class's priors. The user's override (profile `dtype` /
`block_size`, `relaychat serve --dtype/--block-size`) wins over the decision, which is still shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from relaychat.core.events import Role
from relaychat.core.feed_policy import FeedPolicy, feed_policy
from relaychat.core.profile import PairProfile
from relaychat.serving.cost_probe import CostProbe, ProbeError, ProbePlan, served_block_size, served_model
from relaychat.serving.costs import ServerCosts, load_costs, save_costs
from relaychat.serving.hardware import CpuInfo, read_cpu
from relaychat.serving.priors import DTYPES, prior, scaled
from relaychat.serving.records import ServerSetup, ServersSetup, SetupRecord, read_setup, write_setup
from relaychat.serving.server import Server
from relaychat.serving.setup_choice import (
    BLOCK_SIZES,
    CostLookup,
    SetupChoice,
    choose_setup,
    feed_costs,
    forced_setup,
)

Loader = Callable[[str, str, int, str], ServerCosts | None]  # (model, dtype, block, machine) -> costs


def cost_lookup(cpu: CpuInfo, models: Mapping[Role, str], load: Loader = load_costs) -> CostLookup:
    """Measured costs where there are any, else carried over from a measurement, else priors."""

    def lookup(role: Role, dtype: str, block: int) -> ServerCosts:
        model = models[role]
        exact = load(model, dtype, block, cpu.key)
        if exact is not None:
            return exact
        for other_dtype in (dtype, *(d for d in DTYPES if d != dtype)):
            for other_block in BLOCK_SIZES:
                measured = load(model, other_dtype, other_block, cpu.key)
                if measured is not None:
                    return scaled(measured, cpu.cpu_class, dtype, block)
        return prior(cpu.cpu_class, model, dtype, block)

    return lookup


def model_names(profile: PairProfile) -> dict[Role, str]:
    return {
        role: profile.spec(role).bundled or profile.spec(role).served_name or role
        for role in ("large", "small")
    }


def plan_setup(profile: PairProfile, cpu: CpuInfo | None = None, load: Loader = load_costs) -> SetupChoice:
    """The setup to start the profile's servers with: the user's override, else the decision."""
    cpu = cpu or read_cpu()
    lookup = cost_lookup(cpu, model_names(profile), load)
    auto = choose_setup(cpu, lookup)
    wanted = {role: profile.spec(role).dtype for role in ("large", "small")}
    blocks = {b for role in ("large", "small") if (b := profile.spec(role).block_size) is not None}
    if all(d == "auto" for d in wanted.values()) and not blocks:
        return auto
    dtypes: dict[Role, str] = {
        role: auto.dtypes[role] if wanted[role] == "auto" else wanted[role] for role in ("large", "small")
    }
    block = max(blocks) if blocks else auto.block_size
    fixed = [f"{role} {d}" for role, d in wanted.items() if d != "auto"] + [f"block {b}" for b in blocks]
    return forced_setup(dtypes, block, cpu, lookup, "set by the user (" + ", ".join(fixed) + ")")


def measure(
    url: str,
    model: str,
    served_name: str,
    profile: PairProfile,
    role: Role,
    dtype: str,
    block_size: int,
    cpu: CpuInfo,
    refresh: bool = False,
) -> ServerCosts | None:
    """The server's cached costs, measured now (a few seconds) when missing; None if the probe failed."""
    if not refresh:
        cached = load_costs(model, dtype, block_size, cpu.key)
        if cached is not None:
            return cached
    probe = CostProbe(url, served_name, profile.spec(role).sampling)
    try:
        costs = probe.measure(dtype, cpu.key, ProbePlan(block_size=block_size))
    except ProbeError:
        return None
    finally:
        probe.close()
    costs = costs.model_copy(update={"model": model})
    save_costs(costs)
    return costs


def describe_choice(choice: SetupChoice) -> str:
    cores = "one core per server" if choice.one_core_each else "servers share the cores"
    return f"serving setup: {choice.label()}, {cores} ({choice.reason})"


def apply_setup(
    profile: PairProfile, servers: Sequence[Server], log: Callable[[str], None], cpu: CpuInfo | None = None
) -> SetupChoice:
    """Choose the setup and write it into the servers about to start; say what and why."""
    cpu = cpu or read_cpu()
    choice = plan_setup(profile, cpu)
    for server in servers:
        server.dtype = choice.dtypes[server.role]
        server.block_size = choice.block_size
        if not choice.one_core_each:
            server.spec = server.spec.model_copy(update={"cpu_core": None})
    log(f"{cpu.describe()}; {describe_choice(choice)}")
    return choice


def after_start(
    profile: PairProfile,
    servers: Sequence[Server],
    choice: SetupChoice,
    log: Callable[[str], None],
    cpu: CpuInfo | None = None,
) -> dict[Role, ServerCosts]:
    """Measure the started servers (unless cached), record their setup, and flag a changed decision."""
    cpu = cpu or read_cpu()
    names = model_names(profile)
    measured: dict[Role, ServerCosts] = {}
    for server in servers:
        costs = measure(
            server.url,
            names[server.role],
            server.name,
            profile,
            server.role,
            server.dtype,
            server.block_size,
            cpu,
        )
        if costs is None:
            log(f"{server.role} {server.name}: costs could not be measured (the decision keeps its priors)")
        else:
            measured[server.role] = costs
            log(
                f"{server.role} {server.name} ({server.dtype}, block {server.block_size}): {costs.describe()}"
            )
        if server.process is not None:
            write_setup(
                SetupRecord(
                    url=server.url,
                    pid=server.process.pid,
                    model=names[server.role],
                    dtype=server.dtype,
                    block_size=server.block_size,
                    reason=choice.reason,
                    why=choice.why,
                    cpu=cpu.as_dict(),
                    costs=costs,
                    choice=choice.as_dict(),
                ),
                role=server.role,
            )
    if measured and not choice.forced:
        again = plan_setup(profile, cpu)
        if (again.dtypes, again.block_size) != (choice.dtypes, choice.block_size):
            log(f"with these measurements the choice is now {again.label()}: it applies at the next start")
    return measured


def running_setups(profile: PairProfile) -> dict[Role, SetupRecord | None]:
    """The setup records of the profile's servers (None: not started by RelayChat, or stale)."""
    return {role: read_setup(profile.spec(role).url) for role in ("large", "small")}


def describe_running(profile: PairProfile) -> list[str]:
    """One line per server: its setup, why, and its measured costs, as far as they are known."""
    lines = []
    for role, record in running_setups(profile).items():
        if record is None:
            block = served_block_size(profile.spec(role).url)
            known = f"block {block} (from /metrics)" if block else "setup unknown"
            lines.append(f"{role}: {known}; not started by RelayChat here, so its dtype is not known")
            continue
        costs = record.costs.describe() if record.costs else "costs not measured"
        lines.append(f"{role}: {record.summary()}; {costs}")
    return lines


def pair_feed_policy(large: ServerCosts, small: ServerCosts) -> FeedPolicy:
    """Both directions must keep up: the longer cadence of the two (on both servers' block grid), the
    smaller cap."""
    block = math.lcm(large.block_size, small.block_size)
    policies = [
        feed_policy(feed_costs(large, small, block)),  # the small model writes, the large is fed
        feed_policy(feed_costs(small, large, block)),
    ]
    slowest = max(policies, key=lambda p: p.feed_every)
    caps = [p.max_feed_tokens for p in policies if p.max_feed_tokens is not None]
    return FeedPolicy(
        feed_every=slowest.feed_every,
        max_feed_tokens=min(caps) if caps else None,
        keeps_up=all(p.keeps_up for p in policies),
        busy_share=max(p.busy_share for p in policies),
        reason=slowest.reason,
    )


def servers_setup(profile: PairProfile, measure_missing: bool = True) -> ServersSetup:
    """CPU, dtype, block size and measured costs of the profile's running servers, for `bench` records.

    Costs missing from a server's record (or of a server RelayChat did not start: its dtype is then
    "unknown", its block size read from /metrics) are measured now, a few seconds per server.
    """
    cpu = read_cpu()
    names = model_names(profile)
    servers: dict[str, ServerSetup] = {}
    for role, record in running_setups(profile).items():
        spec = profile.spec(role)
        if record is not None:
            dtype, block, costs, reason = record.dtype, record.block_size, record.costs, record.reason
            source = "started by RelayChat"
        else:
            dtype, block, costs, reason = "unknown", served_block_size(spec.url) or 0, None, ""
            source = "running elsewhere: dtype unknown, block size from /metrics"
        if costs is None and measure_missing and block:
            served = spec.served_name or served_model(spec.url) or names[role]
            costs = measure(spec.url, names[role], served, profile, role, dtype, block, cpu)
        servers[role] = ServerSetup(
            model=names[role],
            dtype=dtype,
            block_size=block or None,
            source=source,
            reason=reason,
            costs=costs,
        )
    return ServersSetup(cpu=cpu.as_dict(), servers=servers)


def remeasure_running(profile: PairProfile, log: Callable[[str], None]) -> None:
    """Measure the profile's recorded servers again (a quiet machine gives truer numbers) and update
    their cached costs and records."""
    cpu = read_cpu()
    names = model_names(profile)
    for role, record in running_setups(profile).items():
        if record is None:
            log(f"{role}: not started by RelayChat here (dtype unknown): not measured")
            continue
        spec = profile.spec(role)
        served = spec.served_name or spec.bundled or names[role]
        costs = measure(
            spec.url, names[role], served, profile, role, record.dtype, record.block_size, cpu, refresh=True
        )
        if costs is None:
            log(f"{role}: the probe failed; the cached costs stay")
            continue
        write_setup(record.model_copy(update={"costs": costs}))
        log(f"{role} ({record.summary()}): {costs.describe()}")
