"""`relaychat race`: two saved runs of the same question side by side, to the finish line."""

from __future__ import annotations

import argparse
from pathlib import Path

from relaychat.cli.common import UserError
from relaychat.cli.project import resolve_target
from relaychat.config import Settings
from relaychat.core.events import RelayEvent, RunFinished, RunStarted
from relaychat.core.trace import TraceError, load_trace
from relaychat.projection.costmodel import bundled_names


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "race",
        help="race a relay trace against a large-only trace, side by side",
        description="Play a relay run and a large-only run of the same question side by side, each "
        "pane coloured as the transcript, with each one's clock and a finish line: paced as measured, "
        "or with --on at a target's projected pace (labelled 'projected'). Without LARGE_TRACE the "
        "relay's own tokens race at the large model's projected pace. Keys: space pauses, r restarts, "
        "+/- change the speed, Esc quits.",
        epilog=f"targets: {', '.join(bundled_names())} or a cost-model file (`relaychat costs measure`)",
    )
    parser.add_argument("relay", type=Path, metavar="RELAY_TRACE", help="a relay run's trace (.jsonl)")
    parser.add_argument(
        "large", type=Path, nargs="?", metavar="LARGE_TRACE", help="a large-only run's trace (.jsonl)"
    )
    parser.add_argument("--on", dest="target", metavar="TARGET", help="pace both at this target's costs")
    parser.add_argument("--speed", type=float, default=1.0, help="clock speed (default 1 = real time)")
    parser.add_argument("--theme", metavar="NAME", help="relay-dark, relay-light, relay-colorblind")
    parser.set_defaults(func=cmd_race)


def _finished(path: Path, mode: str) -> list[RelayEvent]:
    try:
        events = load_trace(path)
    except TraceError as exc:
        raise UserError(str(exc)) from exc
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    if started is None or not isinstance(events[-1], RunFinished):
        raise UserError(f"{path}: not a finished run (a failed or partial trace cannot race)")
    if started.mode != mode:
        raise UserError(f"{path} is a {started.mode}-mode run; a {mode}-mode run goes here")
    return events


def cmd_race(args: argparse.Namespace, settings: Settings) -> int:
    from relaychat.ui.race_app import RaceApp  # Textual loads only for this command
    from relaychat.ui.race_setup import make_race

    if args.speed <= 0:
        raise UserError("--speed must be more than 0")
    relay = _finished(args.relay, "relay")
    alone = _finished(args.large, "large") if args.large else None
    target = resolve_target(args.target, settings) if (args.target or alone is None) else None
    race = make_race(relay, alone, target)
    race.speed = args.speed
    RaceApp(race, theme=args.theme).run()
    return 0
