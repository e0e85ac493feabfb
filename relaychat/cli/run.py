"""`relaychat run`: one generation, streamed to the terminal coloured by model, or as JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from relaychat.cli.common import (
    UserError,
    add_cue_args,
    add_profile_args,
    connection,
    resolve_profile,
    servers_up,
)
from relaychat.cli.consoles import message_console
from relaychat.cli.render import LARGE_STYLE, SMALL_STYLE, summary_table
from relaychat.cli.stopping import cancel_on_stop_signals, exit_code, stop_signals
from relaychat.config import Settings
from relaychat.connect import Connection
from relaychat.core.controller import RelayOptions
from relaychat.core.events import (
    RelayEvent,
    Role,
    RunFailed,
    RunFinished,
    RunStarted,
    StageChanged,
    TokenDelta,
)
from relaychat.core.profile import PairProfile
from relaychat.core.trace import recorded
from relaychat.inert import inert
from relaychat.paths import data_dir
from relaychat.relay import Relay, open_relay
from relaychat.serving.costs import ServerCosts
from relaychat.storage import StorageError, describe, writable_dir, writable_file


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {number}")
    return number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="one generation, streamed to the terminal",
        description="Answer one question with the relay (or one model) and print a summary. "
        "Every run is saved as a JSONL trace that `relaychat replay` can play back.",
        epilog='example: relaychat run --max-tokens 300 "What is 12% of 250?"',
    )
    parser.add_argument("question", nargs="?", help="the question; '-' or nothing reads standard input")
    parser.add_argument(
        "--mode", choices=["relay", "large", "small"], help="relay (default) or one model alone"
    )
    parser.add_argument(
        "--max-tokens", type=positive_int, metavar="N", help="token budget, reasoning + answer"
    )
    parser.add_argument(
        "--answer-model", choices=["large", "small"], help="who writes the answer (default: small)"
    )
    parser.add_argument("--seed", type=int, help="sampling seed (default: the profile's)")
    parser.add_argument(
        "--cue-detection",
        choices=["auto", "client", "server"],
        help="where cues are found: server stop strings when accepted (auto, default), the "
        "client's matcher, or the server only",
    )
    parser.add_argument(
        "--no-prefill-ahead",
        action="store_true",
        help="do not feed the idle server while the other model writes",
    )
    parser.add_argument(
        "--no-early-start",
        action="store_true",
        help="send the next model its request only once a cut is confirmed",
    )
    parser.add_argument("--json", action="store_true", help="write one JSON event per line to stdout")
    parser.add_argument(
        "--trace", type=Path, metavar="FILE", help="where to save the trace (default: data dir)"
    )
    add_cue_args(parser)
    add_profile_args(parser)
    parser.set_defaults(func=cmd_run)


def read_question(arg: str | None) -> str:
    if arg and arg != "-":
        question = arg
    elif not sys.stdin.isatty():
        question = sys.stdin.read()
    else:
        raise UserError('no question given: relaychat run "your question" (or pipe it on standard input)')
    if not question.strip():
        raise UserError("the question is empty")
    return question.strip()


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    question = read_question(args.question)
    profile = resolve_profile(args, settings)
    options = RelayOptions(
        mode=args.mode or settings.mode,
        max_tokens=args.max_tokens or settings.max_tokens,
        answer_model=args.answer_model or settings.answer_model,
        seed=args.seed if args.seed is not None else settings.seed,
        cue_detection=args.cue_detection or "auto",
        prefill_ahead=not args.no_prefill_ahead,
        early_start=not args.no_early_start,
    )
    budget = options.max_tokens or profile.max_tokens
    if budget < 8:
        raise UserError("--max-tokens must be at least 8 (room for reasoning and an answer)")
    trace_target_ok(args.trace)
    with (
        stop_signals(),
        servers_up(profile, autostart=settings.autostart and not args.no_autostart) as measured,
    ):
        return asyncio.run(_run(profile, options, question, args, connection(args, settings), measured))


async def _run(
    profile: PairProfile,
    options: RelayOptions,
    question: str,
    args: argparse.Namespace,
    conn: Connection | None = None,
    measured: Mapping[Role, ServerCosts] | None = None,
) -> int:
    async with open_relay(profile, conn, costs=measured) as relay:
        return await _run_on(relay, options, question, args)


async def _run_on(relay: Relay, options: RelayOptions, question: str, args: argparse.Namespace) -> int:
    controller = relay.controller(relay.options(options))
    out = Console(highlight=False, soft_wrap=True)
    err = message_console()
    final: RelayEvent | None = None
    saved: list[Path] = []
    trace_path: Path | None = None
    received: list[int] = []
    try:
        with cancel_on_stop_signals(received):
            async for event, trace_path in recorded(  # noqa: B007 (the path is read after the loop)
                controller.run([{"role": "user", "content": question}]),
                path=args.trace,
                where=saved,
                on_write_error=trace_warning(err),
            ):
                if args.json:
                    sys.stdout.write(event.model_dump_json() + "\n")
                    sys.stdout.flush()
                else:
                    _show(out, event)
                if isinstance(event, (RunFinished, RunFailed)):
                    final = event
    except asyncio.CancelledError:  # a stop signal: the trace already ends with a `cancelled` event
        how = signal.Signals(received[0]).name if received else "interrupted"
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            out.print()
            err.print(
                Text.assemble((how, "yellow"), ": partial trace saved to ", str(saved[0]) if saved else "-"),
                soft_wrap=True,  # a path stays on one line, to copy
            )
        return exit_code(received[0]) if received else 130
    if isinstance(final, RunFailed) and final.error.kind == "prompt_too_long":
        err.print(_error_line(final))  # nothing was generated: a usage error, like a bad option
        return 2
    if args.json:
        if isinstance(final, RunFailed):
            err.print(_error_line(final))
        return 1 if isinstance(final, RunFailed) else 0
    out.print()
    if isinstance(final, (RunFinished, RunFailed)):
        Console(highlight=False).print(summary_table(final.summary))
    if isinstance(final, RunFailed):
        err.print(_error_line(final))
    if trace_path:
        err.print(Text(f"trace saved to {trace_path}", style="dim"), soft_wrap=True)
    return 1 if isinstance(final, RunFailed) else 0


def trace_target_ok(trace: Path | None) -> None:
    """The trace can be saved where it will go (before any server is contacted), else a UserError."""
    try:
        if trace is not None:
            writable_file(trace, "the trace")
        else:
            writable_dir(data_dir() / "traces", "traces")
    except StorageError as exc:
        raise UserError(str(exc)) from None


def trace_warning(err: Console) -> Callable[[Path, OSError, int], None]:
    """What to say when a trace stops being written mid-run: the run goes on, the trace stops."""

    def warn(path: Path, error: OSError, saved: int) -> None:
        err.print(
            Text.assemble(
                ("\nwarning:", "yellow"),
                f" the trace stopped being saved after {saved} events ({describe(error)}): "
                f"{path} holds the run up to there, each line whole",
            ),
            soft_wrap=True,
        )

    return warn


def _error_line(failed: RunFailed) -> Text:
    """The error as plain text: a server's message may hold `[markup]` or escape sequences."""
    return Text.assemble(("error:", "bold red"), " ", inert(failed.error.message))


def _show(out: Console, event: RelayEvent) -> None:
    if isinstance(event, RunStarted):
        out.print(
            Text.assemble(
                ("large ", LARGE_STYLE),
                (inert(event.large_model or "-"), "bold"),
                "   ",
                ("small ", SMALL_STYLE),
                (inert(event.small_model or "-"), "bold"),
                f"   mode {event.mode}, budget {event.max_tokens} tokens",
            )
        )
        out.print(Rule("reasoning", style="dim"))
    elif isinstance(event, TokenDelta):
        style = LARGE_STYLE if event.model == "large" else SMALL_STYLE
        out.print(Text(inert(event.text), style=style), end="")  # model output is data, not escapes
    elif isinstance(event, StageChanged) and event.stage == "answer":
        if event.inserted_text:
            out.print(Text(inert(event.inserted_text), style="dim"), end="")
        out.print()
        out.print(Rule("answer", style="dim"))
