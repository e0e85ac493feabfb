"""Run scenarios against live servers and measure them, never two at once.

Every scenario runs the same prompts with the same seeds, so the only difference between two
scenarios is the scenario. Single-session scenarios are interleaved: each prompt runs under every
scenario in turn, each run from empty prefix caches, so a slow or fast stretch of a shared machine
(seen here: 27 -> 22 tok/s within minutes) lands on all of them alike instead of on whichever ran
then. A concurrent scenario runs as one block, its `concurrency` sessions at once. Client CPU is
`time.process_time()` around the runs (nothing else runs in this process meanwhile: progress is
reported between runs, not on a timer).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from relaychat.backends.base import Backend
from relaychat.backends.replicas import pinned
from relaychat.bench.metrics import RunObservation, ScenarioMetrics, ServerDelta, aggregate
from relaychat.bench.scenarios import Scenario
from relaychat.core.events import RelayEvent, Role
from relaychat.core.profile import PairProfile
from relaychat.core.trace import recorded
from relaychat.relay import Relay

RunDone = Callable[[Scenario, RunObservation], None]


@dataclass(frozen=True)
class BenchPlan:
    prompts: Sequence[str]
    repeats: int = 1
    max_tokens: int | None = None
    base_seed: int = 0
    trace_dir: Path | None = None  # save every run's trace here (`relaychat project` replays them)

    def jobs(self) -> list[tuple[int, int]]:
        return [(p, r) for r in range(self.repeats) for p in range(len(self.prompts))]

    def seed(self, prompt: int, repeat: int) -> int:
        return zlib.crc32(f"bench:{self.base_seed}:{prompt}:{repeat}".encode()) % 2**31


async def read_counters(backends: Mapping[Role, Backend]) -> dict[str, dict[str, float]]:
    """vLLM /metrics per role, or {} for a backend without metrics (e.g. scripted)."""
    counters: dict[str, dict[str, float]] = {}
    for role, backend in backends.items():
        read = getattr(backend, "metrics", None)
        counters[role] = dict(await read()) if read is not None else {}
    return counters


async def run_scenarios(
    scenarios: Sequence[Scenario],
    relay: Relay,
    plan: BenchPlan,
    on_run: RunDone | None = None,
    interleave: bool = True,
) -> list[ScenarioMetrics]:
    """All scenarios, results in the order given: single-session ones interleaved (see above).

    All runs share the relay's warm-up memory (cue-ending habits, suffix token ids), as a chat
    session does, and its tuned options (`Relay.options`), as every front end does.
    """
    rounds = [s for s in scenarios if interleave and s.concurrency == 1]
    outcomes = await run_interleaved(rounds, relay, plan, on_run)
    results = dict(zip((s.name for s in rounds), outcomes, strict=False))
    for scenario in scenarios:
        if scenario.name not in results:
            results[scenario.name] = await run_scenario(scenario, relay, plan, on_run)
    return [results[s.name] for s in scenarios]


@dataclass
class _Tally:
    """One scenario's runs so far, when its runs are spread over the whole bench."""

    observations: list[RunObservation] = field(default_factory=list)
    duration_s: float = 0.0
    cpu_s: float = 0.0
    cold: bool = True
    counters: dict[str, dict[str, float]] = field(default_factory=dict)  # summed deltas per role


async def run_interleaved(
    scenarios: Sequence[Scenario],
    relay: Relay,
    plan: BenchPlan,
    on_run: RunDone | None = None,
) -> list[ScenarioMetrics]:
    """Each prompt under every scenario in turn, each run from empty caches; timed run by run."""
    backends = relay.backends
    tallies = {s.name: _Tally() for s in scenarios}
    for prompt, repeat in plan.jobs():
        for scenario in scenarios:
            tally, used = tallies[scenario.name], _used(scenario, backends)
            tally.cold = await reset_caches(used) and tally.cold
            before = await read_counters(used)
            cpu0, t0 = time.process_time(), time.perf_counter()
            observation = await _run_one(scenario, relay, plan, prompt, repeat)
            tally.duration_s += time.perf_counter() - t0
            tally.cpu_s += time.process_time() - cpu0
            after = await read_counters(used)
            for role in used:
                summed = tally.counters.setdefault(role, {})
                for name, value in after[role].items():
                    summed[name] = summed.get(name, 0.0) + value - before[role].get(name, 0.0)
            tally.observations.append(observation)
            if on_run:
                on_run(scenario, observation)
    results = []
    for scenario in scenarios:
        tally = tallies[scenario.name]
        servers = {role: ServerDelta.between({}, c) for role, c in tally.counters.items() if c}
        metrics = aggregate(
            scenario.name,
            scenario.mode,
            scenario.concurrency,
            list(scenario.variants),
            tally.observations,
            tally.duration_s,
            tally.cpu_s,
            servers,
        )
        results.append(metrics.model_copy(update={"cold_cache": tally.cold}))
    return results


def _profile_for(scenario: Scenario, profile: PairProfile) -> PairProfile:
    update = scenario.profile_update()
    return profile.model_copy(update=update) if update else profile


def _used(scenario: Scenario, backends: Mapping[Role, Backend]) -> dict[Role, Backend]:
    roles: list[Role] = ["large", "small"] if scenario.mode == "relay" else [scenario.mode]
    return {r: backends[r] for r in roles}


async def _run_one(
    scenario: Scenario, relay: Relay, plan: BenchPlan, prompt: int, repeat: int
) -> RunObservation:
    options = relay.options(
        mode=scenario.mode, max_tokens=plan.max_tokens, seed=plan.seed(prompt, repeat), **scenario.options()
    )
    events: list[RelayEvent] = []
    async with pinned(relay.backends) as chosen:
        controller = relay.controller(options, profile=_profile_for(scenario, relay.profile), backends=chosen)
        stream = controller.run([{"role": "user", "content": plan.prompts[prompt]}])
        if plan.trace_dir is not None:
            path = plan.trace_dir / f"{scenario.name}-p{prompt}-r{repeat}.jsonl"
            async for event, _ in recorded(stream, path=path):
                events.append(event)
        else:
            async for event in stream:
                events.append(event)
    return RunObservation.of(events)


async def run_scenario(
    scenario: Scenario,
    relay: Relay,
    plan: BenchPlan,
    on_run: RunDone | None = None,
) -> ScenarioMetrics:
    """One scenario as a block: its `concurrency` sessions share the jobs; caches emptied once."""
    used = _used(scenario, relay.backends)
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for job in plan.jobs():
        queue.put_nowait(job)
    observations: list[RunObservation] = []

    async def worker() -> None:
        while not queue.empty():
            prompt, repeat = queue.get_nowait()
            observation = await _run_one(scenario, relay, plan, prompt, repeat)
            observations.append(observation)
            if on_run:
                on_run(scenario, observation)

    cold = await reset_caches(used)
    before = await read_counters(used)
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(scenario.concurrency)))
    duration, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    after = await read_counters(used)
    servers: dict[str, ServerDelta] = {
        role: ServerDelta.between(before[role], after[role]) for role in used if after[role]
    }
    metrics = aggregate(
        scenario.name,
        scenario.mode,
        scenario.concurrency,
        list(scenario.variants),
        observations,
        duration,
        cpu,
        servers,
    )
    return metrics.model_copy(update={"cold_cache": cold})


async def reset_caches(backends: Mapping[Role, Backend]) -> bool:
    """Start a scenario from empty prefix caches, so it cannot reuse what an earlier scenario computed
    on the same prompts and seeds. False when a server does not allow it (not a dev-mode vLLM)."""
    done = True
    for backend in backends.values():
        reset = getattr(backend, "reset_prefix_cache", None)
        done = bool(reset is not None and await reset()) and done
    return done


async def warm_up(relay: Relay, prompt: str) -> None:
    """One short relay run so that connections, model info and compiled graphs are ready."""
    controller = relay.controller(relay.options(mode="relay", max_tokens=24, seed=1))
    async for _ in controller.run([{"role": "user", "content": prompt}]):
        pass
