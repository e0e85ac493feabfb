"""`relaychat`: the command line. Each sub-command lives in its own module with `register()`.

With no sub-command, `relaychat` opens the chat TUI.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from relaychat.cli.common import UserError, fail
from relaychat.config import load_settings

# name -> module; each module has register(subparsers) and its parser's default `func`.
COMMANDS = {
    "chat": "relaychat.cli.chat",
    "run": "relaychat.cli.run",
    "replay": "relaychat.cli.replay",
    "serve": "relaychat.cli.serve",
    "profiles": "relaychat.cli.profiles",
    "calibrate": "relaychat.cli.calibrate",
    "cues": "relaychat.cli.cues",
    "eval": "relaychat.cli.evaluate",
    "bench": "relaychat.cli.bench",
}

DESCRIPTION = """\
RelayChat relays one generation between a large and a small reasoning model (RelayGen) and lets you
watch it. Run with no command to open the chat app on the built-in CPU demo pair.
"""

EPILOG = """\
examples:
  relaychat                                  chat in the TUI (starts the CPU demo servers if needed)
  relaychat run "What is 17 * 23?"           one relay generation, streamed in colour
  relaychat run --mode large --json "..."    large model only, one JSON event per line
  relaychat serve --profile cpu-demo         start the demo servers and keep them up
  relaychat replay TRACE.jsonl               replay a saved run without any server
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relaychat",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    # `relaychat` and `relaychat --profile X` open the chat app: route options without a command to it.
    if "chat" in commands and (not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help"))):
        argv = ["chat", *argv]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return
    settings = load_settings()
    try:
        code = args.func(args, settings)
    except UserError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
