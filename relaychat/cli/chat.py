"""`relaychat chat` (and plain `relaychat`): the Textual chat app."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from relaychat.cli.common import (
    UserError,
    add_cue_args,
    add_profile_args,
    connection,
    make_backends,
    resolve_profile,
)
from relaychat.cli.run import positive_int, trace_target_ok
from relaychat.config import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "chat",
        help="chat in the terminal app (the default command)",
        description="Open the RelayChat app: ask questions and watch the large and the small model relay\n"
        "the reasoning, coloured by model, with live margin, speedup and cue panels. With the cpu-demo\n"
        "profile the bundled CPU servers are started if they are down (and stopped on exit).\n"
        "Sessions are saved as they happen; F5 replays saved traces without any server.",
        epilog="examples:\n  relaychat\n  relaychat chat --mode large --theme relay-light\n"
        "  relaychat chat --replay TRACE.jsonl --speed 8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--mode", choices=["relay", "large", "small"], help="relay (default) or one model alone"
    )
    parser.add_argument("--max-tokens", type=positive_int, metavar="N", help="token budget per answer")
    parser.add_argument("--seed", type=int, help="sampling seed (default: the profile's)")
    parser.add_argument("--theme", metavar="NAME", help="relay-dark, relay-light, relay-colorblind, or yours")
    parser.add_argument("--replay", type=Path, metavar="TRACE", help="open by replaying this trace")
    parser.add_argument("--speed", type=float, default=4.0, help="replay speed (default 4; 0 = no waiting)")
    add_cue_args(parser)
    add_profile_args(parser)
    parser.set_defaults(func=cmd_chat)


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from relaychat.ui.app import RelayChatApp  # Textual loads only for this command
    from relaychat.ui.chat_settings import ChatSettings
    from relaychat.ui.themes import remembered_theme

    profile = resolve_profile(args, settings)
    trace_target_ok(None)  # sessions and traces can be saved: else one clear error, before the app opens
    if args.replay is not None and not args.replay.is_file():
        raise UserError(f"no trace at {args.replay}")
    if args.speed < 0:
        raise UserError("--speed must be 0 (no waiting) or more")
    chat = ChatSettings(
        profile=profile,
        mode=args.mode or settings.mode,
        max_tokens=args.max_tokens or settings.max_tokens,
        seed=args.seed if args.seed is not None else settings.seed,
        answer_model=settings.answer_model,
        projection_target=settings.projection_target,
    )
    explicit_theme = "theme" in settings.model_fields_set
    theme = args.theme or (settings.theme if explicit_theme else remembered_theme() or settings.theme)
    app = RelayChatApp(
        chat,
        partial(make_backends, connection=connection(args, settings)),
        autostart=settings.autostart and not args.no_autostart,
        theme=theme,
        replay=args.replay,
        replay_speed=args.speed or float("inf"),
    )
    app.run()
    if app.farewell:  # the terminal is back: say what quitting did while Python finishes exiting
        print(app.farewell, flush=True)
    return 0
