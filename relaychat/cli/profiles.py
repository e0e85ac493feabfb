"""`relaychat profiles`: list the built-in model pairs, or show one in full."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from relaychat.cli.common import UserError
from relaychat.config import Settings
from relaychat.core.profile import PairProfile, ProfileError, builtin_names, load_profile
from relaychat.redact import redact_url


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("profiles", help="list model pairs, or show one", description=__doc__)
    parser.add_argument("name", nargs="?", help="show this profile (name or TOML file) as JSON")
    parser.set_defaults(func=cmd_profiles)


def cmd_profiles(args: argparse.Namespace, settings: Settings) -> int:
    console = Console()
    if args.name:
        try:
            console.print_json(data=shown(load_profile(args.name)))
        except ProfileError as exc:
            raise UserError(str(exc)) from exc
        return 0
    table = Table("profile", "large", "small", "cues", "description")
    for name in builtin_names():
        p = load_profile(name)
        table.add_row(
            name,
            f"{p.large.display_name}\n{redact_url(p.large.url)}",
            f"{p.small.display_name}\n{redact_url(p.small.url)}",
            str(len(p.cues)),
            p.description,
        )
    console.print(table)
    return 0


def shown(profile: PairProfile) -> dict[str, object]:
    """The profile as JSON data, with any `user:password@` in its URLs masked."""
    data = profile.model_dump(mode="json")
    for role in ("large", "small"):
        data[role]["urls"] = [redact_url(url) for url in data[role]["urls"]]
    return data
