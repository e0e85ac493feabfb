"""`relaychat bench`: the relay's own overhead on the servers at hand, vLLM-benchmark style."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from relaychat.bench.client_only import FakeServerError, client_only
from relaychat.bench.client_render import client_table
from relaychat.bench.gap import decompose, expected_tail_ms
from relaychat.bench.metrics import RunObservation, ScenarioMetrics
from relaychat.bench.render import (
    comparison_table,
    net_overhead_ms_per_switch,
    setup_lines,
    switch_efficiency,
    switch_efficiency_own_speed,
    text_block,
)
from relaychat.bench.runner import BenchPlan, run_scenarios, warm_up
from relaychat.bench.scenarios import VARIANTS, Scenario, ScenarioError, default_scenarios, parse_scenarios
from relaychat.cli.common import (
    UserError,
    add_cue_args,
    add_profile_args,
    connection,
    resolve_profile,
    servers_up,
)
from relaychat.cli.consoles import message_console
from relaychat.cli.run import positive_int
from relaychat.cli.stopping import Stopped, cancellable, exit_code, stop_signals
from relaychat.config import Settings
from relaychat.core.profile import PairProfile
from relaychat.evaluation.datasets import DatasetError, load_dataset
from relaychat.paths import data_dir
from relaychat.redact import redact_url
from relaychat.relay import Relay, open_relay
from relaychat.serving.floor import ProbeError, cached_ttft_s
from relaychat.serving.records import ServersSetup
from relaychat.serving.setup_plan import servers_setup

BUILTIN_PROMPTS = [
    "A train travels 120 km in 1.5 hours. What is its average speed in km/h?",
    "What is the sum of the first 20 positive integers?",
    "Solve for x: 3x + 7 = 25.",
    "A rectangle has perimeter 30 and length 9. What is its area?",
    "How many positive divisors does 36 have?",
    "What is 15% of 240?",
]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure the relay's own overhead on the servers at hand",
        description="Run benchmark scenarios (one model alone, the relay, the relay under concurrency, A/B "
        "variants) on the same prompts and seeds, and report per-switch gap (last token of a segment -> "
        "first token of the next, split into the next model's TTFT and the client's share), client CPU "
        "per token, prefix-cache reuse from the servers' /metrics, latency/TTFT/TPOT (mean, median, P99) "
        "and throughput. Prints vLLM-style blocks and writes JSON. Scenarios: MODE[-xN][+VARIANT], "
        f"variants: {', '.join(f'{k} ({v.description})' for k, v in VARIANTS.items())}.",
        epilog="example: relaychat bench --profile cpu-demo --prompts 4 --max-tokens 200 "
        "--scenarios large,small,relay,relay-x4",
    )
    parser.add_argument(
        "--scenarios",
        metavar="LIST",
        help="comma-separated scenarios (default: large, small, relay and relay-xN with N = --concurrency)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="sessions of the default concurrent scenario (default: 4)",
    )
    parser.add_argument(
        "--prompts", type=positive_int, default=4, metavar="N", help="prompts per scenario (default 4)"
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=1, metavar="R", help="runs per prompt (default 1)"
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME|FILE",
        help="take the prompts from a dataset (default: a few built-in arithmetic questions)",
    )
    parser.add_argument("--data", metavar="DIR", help="data dir for a named dataset")
    parser.add_argument(
        "--max-tokens", type=positive_int, metavar="N", help="token budget per run (default: the profile's)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="base seed (default 0)")
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="where to write the JSON results (default: the data dir's bench/ folder)",
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the short warm-up run")
    parser.add_argument(
        "--save-traces",
        type=Path,
        metavar="DIR",
        help="save every run's trace in DIR (`relaychat project DIR/*.jsonl` projects them onto a GPU pair)",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="run each scenario as one block (default: "
        "single-session scenarios take turns prompt by prompt, each run from empty caches, so "
        "a machine that speeds up or slows down during the bench affects all of them alike)",
    )
    client = parser.add_argument_group(
        "client only",
        "measure the client alone against a load generator replaying recorded vLLM streams "
        "(no real servers needed)",
    )
    client.add_argument(
        "--client-only",
        action="store_true",
        help="report client CPU per token, tokens/s and event-loop lag at each --levels concurrency",
    )
    client.add_argument(
        "--levels", default="1,8,64", metavar="K,K,...", help="concurrent relays per level (default 1,8,64)"
    )
    client.add_argument(
        "--stream-rate",
        type=float,
        metavar="TOK_S",
        help="tokens/s per stream from the load generator (default: as fast as the client reads)",
    )
    client.add_argument(
        "--runs-per-session",
        type=positive_int,
        default=2,
        metavar="N",
        help="relay runs per concurrent session at each level (default 2)",
    )
    client.add_argument(
        "--traces", action="store_true", help="write every run's trace, as `run` and `eval` do"
    )
    client.add_argument(
        "--cprofile",
        type=Path,
        metavar="FILE",
        help="write a cProfile of the measured levels to FILE (read it with python -m pstats)",
    )
    add_cue_args(parser)
    add_profile_args(parser)
    parser.set_defaults(func=cmd_bench)


def load_prompts(args: argparse.Namespace, settings: Settings) -> list[str]:
    if not args.dataset:
        if args.prompts > len(BUILTIN_PROMPTS):
            raise UserError(f"only {len(BUILTIN_PROMPTS)} built-in prompts; use --dataset for more")
        return BUILTIN_PROMPTS[: args.prompts]
    try:
        return [
            p.question for p in load_dataset(args.dataset, args.data or settings.data, limit=args.prompts)
        ]
    except DatasetError as exc:
        raise UserError(str(exc)) from exc


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    profile = resolve_profile(args, settings)
    if args.client_only:
        return cmd_client_only(args, profile)
    try:
        scenarios = parse_scenarios(args.scenarios) if args.scenarios else default_scenarios(args.concurrency)
    except ScenarioError as exc:
        raise UserError(str(exc)) from exc
    if args.max_tokens is not None and args.max_tokens < 8:
        raise UserError("--max-tokens must be at least 8 (room for reasoning and an answer)")
    plan = BenchPlan(load_prompts(args, settings), args.repeats, args.max_tokens, args.seed)
    plan = dataclasses.replace(plan, trace_dir=args.save_traces)
    out = args.json or data_dir() / "bench" / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{profile.name}.json"
    err = message_console()
    received: list[int] = []
    try:
        with (
            stop_signals(),
            servers_up(profile, autostart=settings.autostart and not args.no_autostart),
        ):
            setup = servers_setup(profile)  # CPU, dtype, block size, measured costs (probed if missing)
            relay = open_relay(profile, connection(args, settings), costs=setup.costs())
            # One floor measurement (`serving.floor`): the cost probe's when it is from this hour
            # (`servers_setup` probes a server whose costs are unknown), else the same one here.
            measured: dict[str, float] = {
                r: c.cached_ttft_ms for r, c in setup.costs().items() if _recent(c.measured_at)
            }
            blocks = {r: s.block_size for r, s in setup.servers.items() if s.block_size}
            bench = _bench(
                relay, scenarios, plan, not args.no_warmup, not args.sequential, err, measured, blocks
            )
            results, floors = asyncio.run(cancellable(bench, received))
    except ProbeError as exc:
        raise UserError(f"the cached-TTFT floor could not be measured: {exc}") from exc
    except KeyboardInterrupt:
        return _stopped(signal.SIGINT, args.save_traces, err)
    except Stopped as stop:
        return _stopped(stop.signum, args.save_traces, err)
    except asyncio.CancelledError:  # SIGTERM / SIGHUP inside the loop: runs in flight were cancelled
        return _stopped(received[0] if received else signal.SIGINT, args.save_traces, err)
    tuned = relay.options()
    setup.feed_every = tuned.feed_every if relay.policy is not None else None
    setup.relay_tuning = (
        {"feed_every": tuned.feed_every, "max_feed_tokens": tuned.max_feed_tokens}
        if relay.policy is not None
        else {}
    )
    tails = _tails(setup)
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    lines = setup_lines(setup)
    for metrics in results:
        gap = decompose(metrics, floors, tails)
        console.print(text_block(metrics, floors, lines, gap), highlight=False, markup=False)
        console.print()
    console.print(comparison_table(results))
    floor = ", ".join(f"{role} {ms:.1f} ms" for role, ms in floors.items())
    console.print(f"cached TTFT (the floor of a switch gap): {floor}", highlight=False)
    err.print("[dim]server counters include any other traffic on these servers during the run[/]")
    out.parent.mkdir(parents=True, exist_ok=True)
    document = _document(profile, plan, results, floors)
    document["meta"]["setup"] = setup.model_dump(mode="json")  # type: ignore[index]
    for scenario, metrics in zip(document["scenarios"], results, strict=True):  # type: ignore[call-overload]
        gap = decompose(metrics, floors, tails)
        scenario["gap_decomposition_ms"] = gap.model_dump() if gap is not None else None
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    err.print(f"[dim]results: {out}[/]")
    return 1 if any(m.failed for m in results) else 0


def _stopped(signum: int, trace_dir: Path | None, err: Console) -> int:
    """One line saying what is saved, then the exit code for that signal (130 / 143 / 129).

    A benchmark cut short measures nothing comparable, so no results file is written; the traces
    saved so far (`--save-traces`) stay valid, the one in flight ending with a `cancelled` event."""
    how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    if trace_dir is not None:
        count = len(list(trace_dir.glob("*.jsonl"))) if trace_dir.is_dir() else 0
        saved = f"no results written; {count} traces saved in {trace_dir}"
    else:
        saved = "no results written (a benchmark cut short measures nothing comparable)"
    with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
        err.print(Text.assemble((how, "yellow"), f": {saved}"), soft_wrap=True)
    return exit_code(signum)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or any(level < 1 for level in levels):
        raise UserError(f"--levels takes positive integers separated by commas, not {text!r}")
    return levels


def cmd_client_only(args: argparse.Namespace, profile: PairProfile) -> int:
    """The client alone: K concurrent relays against the load generator, level by level."""
    levels = _levels(args.levels)
    if args.stream_rate is not None and args.stream_rate <= 0:
        raise UserError("--stream-rate must be positive")
    err = message_console()
    err.print(f"[dim]client only: levels {levels}, load generator at {args.stream_rate or 'full'} tok/s[/]")
    received: list[int] = []
    measure = client_only(
        profile,
        levels,
        args.runs_per_session,
        args.max_tokens,
        args.traces,
        args.stream_rate,
        args.cprofile,
    )
    try:
        with stop_signals():
            results = asyncio.run(cancellable(measure, received))  # the load generator stops however
    except FakeServerError as exc:
        raise UserError(str(exc)) from exc
    except KeyboardInterrupt:
        return _stopped(signal.SIGINT, None, err)
    except Stopped as stop:
        return _stopped(stop.signum, None, err)
    except asyncio.CancelledError:
        return _stopped(received[0] if received else signal.SIGINT, None, err)
    rate = f"{args.stream_rate:g} tok/s per stream" if args.stream_rate else "unpaced streams"
    title = f"client only ({rate}, traces {'on' if args.traces else 'off'}, {os.cpu_count()} CPUs)"
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    console.print(client_table(results, title))
    out = args.json or data_dir() / "bench" / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-client-only.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "profile": profile.name,
        "stream_rate": args.stream_rate,
        "traces": args.traces,
        "runs_per_session": args.runs_per_session,
        "max_tokens": args.max_tokens or profile.max_tokens,
        "cpu_count": os.cpu_count(),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    document = {"meta": meta, "levels": [level.as_dict() for level in results]}
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    err.print(f"[dim]results: {out}[/]")
    if args.cprofile:
        err.print(f"[dim]profile: {args.cprofile}[/]")
    return 1 if any(level.failed for level in results) else 0


async def _bench(
    relay: Relay,
    scenarios: Sequence[Scenario],
    plan: BenchPlan,
    warm: bool,
    interleave: bool,
    console: Console,
    floors_ms: Mapping[str, float] | None = None,
    block_sizes: Mapping[str, int] | None = None,
) -> tuple[list[ScenarioMetrics], dict[str, float]]:
    """Run the scenarios on `relay` (closed at the end); what its warm-up learns carries into them.

    `floors_ms`: each server's cached TTFT already measured (ms); the others are measured here, as
    the cost probe does, with the server's KV block size from `block_sizes` when known."""
    profile = relay.profile
    results: list[ScenarioMetrics] = []
    floors: dict[str, float] = dict(floors_ms or {})
    async with relay:
        if warm:
            await warm_up(relay, plan.prompts[0])
        for role, backend in relay.backends.items():
            if role not in floors:
                sampling = profile.spec(role).sampling
                floors[role] = await cached_ttft_s(backend, sampling, (block_sizes or {}).get(role)) * 1000
        # Refreshed by hand between runs only, so no progress thread eats CPU inside the measurement.
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            auto_refresh=False,
        ) as bar:
            task = bar.add_task("benchmark", total=len(scenarios) * len(plan.jobs()))

            def on_run(scenario: Scenario, observation: RunObservation) -> None:
                bar.update(task, advance=1, description=f"benchmark: {scenario.name}")
                bar.refresh()

            results = await run_scenarios(scenarios, relay, plan, on_run, interleave)
    return results, floors


def _recent(measured_at: str | None, within_s: float = 3600.0) -> bool:
    """Whether a measurement (ISO time) is recent enough to stand for the machine's state now."""
    try:
        when = datetime.fromisoformat(measured_at) if measured_at else None
    except ValueError:
        return False
    return when is not None and (datetime.now(UTC) - when).total_seconds() < within_s


def _tails(setup: ServersSetup) -> dict[str, float]:
    """Each receiving server's expected tail recompute (ms): half a block at its measured prefill cost."""
    return {
        role: expected_tail_ms(server.block_size, server.costs.prefill_ms_per_token)
        for role, server in setup.servers.items()
        if server.costs is not None and server.block_size
    }


def _document(
    profile: PairProfile, plan: BenchPlan, results: Sequence[ScenarioMetrics], floors: dict[str, float]
) -> dict[str, object]:
    return {
        "meta": {
            "profile": profile.name,
            "large_model": profile.large.display_name,
            "small_model": profile.small.display_name,
            "large_urls": [redact_url(u) for u in profile.large.urls],
            "small_urls": [redact_url(u) for u in profile.small.urls],
            "prompts": len(plan.prompts),
            "repeats": plan.repeats,
            "max_tokens": plan.max_tokens or profile.max_tokens,
            "base_seed": plan.base_seed,
            "cpu_count": os.cpu_count(),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "cached_ttft_ms": floors,
        },
        "scenarios": [
            m.model_dump()
            | {
                "switch_efficiency": switch_efficiency(m, results),
                "switch_efficiency_own_speed": switch_efficiency_own_speed(m, results),
                "net_overhead_ms_per_switch": net_overhead_ms_per_switch(m, results),
            }
            for m in results
        ],
    }
