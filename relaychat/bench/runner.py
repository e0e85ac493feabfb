"""Run scenarios against live servers and measure them, one scenario at a time.

Scenarios run one after another (never overlapping) on the same prompts with the same seeds, so the
only difference between two scenarios is the scenario. Inside a scenario, `concurrency` sessions run
at once. Client CPU is `time.process_time()` around the whole scenario (nothing else runs in this
process meanwhile: progress is reported between runs, not on a timer).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from relaychat.backends.base import Backend
from relaychat.backends.replicas import pinned
from relaychat.bench.metrics import RunObservation, ScenarioMetrics, ServerDelta, aggregate
from relaychat.bench.scenarios import Scenario
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.events import RelayEvent, Role
from relaychat.core.profile import PairProfile

RunDone = Callable[[Scenario, RunObservation], None]


@dataclass(frozen=True)
class BenchPlan:
    prompts: Sequence[str]
    repeats: int = 1
    max_tokens: int | None = None
    base_seed: int = 0

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


async def run_scenario(
    scenario: Scenario,
    profile: PairProfile,
    backends: Mapping[Role, Backend],
    plan: BenchPlan,
    on_run: RunDone | None = None,
) -> ScenarioMetrics:
    scenario_profile = profile.model_copy(update=scenario.profile_update()) if scenario.profile_update() else profile
    roles: list[Role] = ["large", "small"] if scenario.mode == "relay" else [scenario.mode]  # type: ignore[list-item]
    used = {r: backends[r] for r in roles}
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for job in plan.jobs():
        queue.put_nowait(job)
    observations: list[RunObservation] = []

    async def one(prompt: int, repeat: int) -> RunObservation:
        options = RelayOptions(mode=scenario.mode, max_tokens=plan.max_tokens, seed=plan.seed(prompt, repeat),
                               **scenario.options())
        events: list[RelayEvent] = []
        async with pinned(backends) as chosen:
            controller = RelayController(scenario_profile, chosen, options)
            async for event in controller.run([{"role": "user", "content": plan.prompts[prompt]}]):
                events.append(event)
        return RunObservation.of(events)

    async def worker() -> None:
        while not queue.empty():
            observation = await one(*queue.get_nowait())
            observations.append(observation)
            if on_run:
                on_run(scenario, observation)

    cold = await reset_caches(used)
    before = await read_counters(used)
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(scenario.concurrency)))
    duration, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    after = await read_counters(used)
    servers = {role: ServerDelta.between(before[role], after[role]) for role in used if after[role]}
    metrics = aggregate(scenario.name, scenario.mode, scenario.concurrency, list(scenario.variants), observations,
                        duration, cpu, servers)
    return metrics.model_copy(update={"cold_cache": cold})


async def reset_caches(backends: Mapping[Role, Backend]) -> bool:
    """Start a scenario from empty prefix caches, so it cannot reuse what an earlier scenario computed
    on the same prompts and seeds. False when a server does not allow it (not a dev-mode vLLM)."""
    done = True
    for backend in backends.values():
        reset = getattr(backend, "reset_prefix_cache", None)
        done = bool(reset is not None and await reset()) and done
    return done


async def warm_up(profile: PairProfile, backends: Mapping[Role, Backend], prompt: str) -> None:
    """One short relay run so that connections, model info and compiled graphs are ready."""
    controller = RelayController(profile, backends, RelayOptions(mode="relay", max_tokens=24, seed=1))
    async for _ in controller.run([{"role": "user", "content": prompt}]):
        pass
