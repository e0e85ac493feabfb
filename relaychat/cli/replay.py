"""`relaychat replay`: play a saved trace back in the terminal, no server needed."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console
from rich.text import Text

from relaychat.cli.common import UserError
from relaychat.cli.render import summary_table
from relaychat.cli.run import _error_line, _show
from relaychat.config import Settings
from relaychat.core.summary import summarize
from relaychat.core.trace import TraceError, read_trace, replay


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay a saved trace in the terminal",
        description="Play back a JSONL trace written by `relaychat run` or the chat app, with its original "
        "pacing (or faster), and print its summary.",
    )
    parser.add_argument("trace", type=Path, help="a trace file (.jsonl)")
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed; 0 = as fast as possible")
    parser.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    try:
        loaded = read_trace(args.trace)
    except TraceError as exc:
        raise UserError(str(exc)) from exc
    events = loaded.events
    if args.speed < 0:
        raise UserError("--speed must be 0 (no waiting) or more")
    out = Console(highlight=False, soft_wrap=True)

    async def play() -> None:
        async for event in replay(events, args.speed):
            _show(out, event)

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if loaded.cut:
        err.print(
            Text.assemble(
                ("warning:", "yellow"),
                f" {args.trace}: {loaded.cut}; replaying the {len(events)} events before it",
            )
        )
    asyncio.run(play())
    out.print()
    out.print(summary_table(summarize(events)))
    if loaded.failed is not None:
        err.print(_error_line(loaded.failed))  # the run failed: so does its replay
        return 1
    return 0
