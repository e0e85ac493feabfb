"""What every sub-command shares: server flags, profile resolution, servers up, clean failures."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from relaychat.cli.consoles import message_console
from relaychat.config import Settings
from relaychat.connect import Connection, make_backends, spec_urls
from relaychat.core.cueset import CueSetError, load_cue_set
from relaychat.core.events import Role
from relaychat.core.profile import PairProfile, ProfileError, builtin_names, load_profile
from relaychat.inert import inert
from relaychat.redact import redact_url
from relaychat.serving.costs import ServerCosts
from relaychat.serving.manager import ServeError, is_healthy, profile_is_local, running_servers

__all__ = ["connection", "make_backends"]  # one place builds backends (replica-aware) for every command

err_console = message_console()


class UserError(Exception):
    """Bad input or an unusable environment: printed as one clear message, exit code 2."""


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one error line and exit. The message is plain text: `[serve]` stays `[serve]`."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", inert(message)), highlight=False)
    sys.exit(code)


def add_profile_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("servers")
    group.add_argument(
        "--profile",
        metavar="NAME|FILE",
        help=f"model pair: a built-in ({', '.join(builtin_names())}) or a profile TOML file",
    )
    group.add_argument("--large-url", metavar="URL", help="large model's server, e.g. http://127.0.0.1:8000")
    group.add_argument("--small-url", metavar="URL", help="small model's server")
    group.add_argument(
        "--no-autostart",
        action="store_true",
        help="never start the bundled CPU servers; fail if they are down",
    )
    group.add_argument(
        "--connect-timeout",
        type=_seconds,
        metavar="S",
        help="seconds to open a connection (default 5; settings `connect_timeout`)",
    )
    group.add_argument(
        "--read-timeout",
        type=_seconds,
        metavar="S",
        help="seconds a server may stay silent mid-request (default 300; settings `read_timeout`)",
    )


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {value!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected seconds above 0, got {value}")
    return seconds


def connection(args: argparse.Namespace, settings: Settings) -> Connection:
    """Timeouts (flag, else settings) and per-role API keys (settings: RELAYCHAT_<ROLE>_API_KEY)."""
    keys = {
        role: secret.get_secret_value()
        for role, secret in (("large", settings.large_api_key), ("small", settings.small_api_key))
        if secret is not None and secret.get_secret_value()
    }
    return Connection(
        connect_timeout=getattr(args, "connect_timeout", None) or settings.connect_timeout,
        read_timeout=getattr(args, "read_timeout", None) or settings.read_timeout,
        api_keys=keys,
    )


def add_cue_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cues", metavar="FILE", help="cue-set file (JSON/TOML with a `cues` list) to use")


def resolve_profile(args: argparse.Namespace, settings: Settings) -> PairProfile:
    name = getattr(args, "profile", None) or settings.profile
    try:
        profile = load_profile(name)
    except ProfileError as exc:
        raise UserError(str(exc)) from exc
    large = getattr(args, "large_url", None) or settings.large_url
    small = getattr(args, "small_url", None) or settings.small_url
    profile = profile.with_urls(large, small)
    cue_file = getattr(args, "cues", None) or settings.cues_file or profile.cue_file
    if cue_file:
        try:
            profile = profile.model_copy(
                update={"cues": load_cue_set(cue_file).cues, "cue_file": str(cue_file)}
            )
        except CueSetError as exc:
            raise UserError(str(exc)) from exc
    return profile


@contextmanager
def servers_up(
    profile: PairProfile, *, autostart: bool = True, console: Console = err_console
) -> Iterator[dict[Role, ServerCosts]]:
    """Make sure the profile's servers answer; start the bundled CPU pair when allowed and needed.

    Yields the costs measured of the servers started here (for `open_relay(costs=...)`); empty when
    they were running already (their records have them)."""
    down = {
        role: url
        for role in ("large", "small")
        for url in spec_urls(profile.spec(role))
        if not is_healthy(url)
    }
    if not down:
        yield {}
        return
    if not (autostart and profile_is_local(profile)):
        urls = ", ".join(f"{role} at {redact_url(url)}" for role, url in down.items())
        hint = (
            "start them with `relaychat serve --profile " + profile.name + "`"
            if profile_is_local(profile)
            else "start them (see launch/) or point --large-url/--small-url at running servers"
        )
        raise UserError(f"no server answers for the {urls}: {hint}")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting the CPU demo servers", total=1.0)

        def progress(message: str, fraction: float | None) -> None:
            bar.update(task, description=message, completed=fraction or 0.0)

        try:
            with running_servers(profile, progress, log=lambda m: bar.console.print(m)) as servers:
                bar.stop()
                yield {s.role: s.costs for s in servers if s.costs is not None}
        except ServeError as exc:
            raise UserError(str(exc)) from exc
