"""`relaychat`: the command line. Each sub-command lives in its own module with `register()`.

With no sub-command, `relaychat` opens the chat TUI.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

from relaychat.backends.errors import BackendError
from relaychat.cli.common import UserError, fail
from relaychat.cli.stopping import Stopped
from relaychat.config import SettingsError, load_settings

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
    "project": "relaychat.cli.project",
    "costs": "relaychat.cli.costs",
    "race": "relaychat.cli.race",
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

exit codes:
  0    success
  1    the work ran but failed: a generation ended with a `failed` event, a benchmark or
       evaluation had failed samples (the trace or records say why)
  2    bad input: an unknown command or option, a bad setting, profile, cue set, dataset or
       trace, servers that cannot be reached or started, or a question too long for a
       server's context window
  129  the terminal closed (SIGHUP); 130: interrupted (Ctrl-C); 143: stopped (SIGTERM).
       What was done so far is saved; servers the command started are stopped
"""


def package_version() -> str:
    try:
        return version("relaychat")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relaychat",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"relaychat {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(subparsers)
    return parser


def route(argv: list[str]) -> list[str]:
    """Options without a command go to the chat app (`relaychat --profile X`); a word that is no
    command is a usage error with the closest command suggested, not a question for the chat app."""
    if not argv:
        return ["chat"]
    first = argv[0]
    if first in COMMANDS or first in ("-h", "--help", "--version"):
        return argv
    if first.startswith("-"):
        return ["chat", *argv]
    close = difflib.get_close_matches(first, list(COMMANDS), n=1, cutoff=0.6)
    hint = f"; did you mean `relaychat {close[0]}`?" if close else ""
    raise UserError(f"unknown command {first!r}{hint} (commands: {', '.join(COMMANDS)})")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = route(argv)
    except UserError as exc:
        fail(str(exc))
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        code = args.func(args, settings)
    except (UserError, SettingsError) as exc:
        fail(str(exc))
    except BackendError as exc:  # a server that died or refused mid-command: its sentence, no traceback
        fail(str(exc), code=1)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except Stopped as stop:  # SIGTERM / SIGHUP outside the event loop (e.g. while servers start)
        with contextlib.suppress(OSError):
            fail(f"stopped by {stop}", code=stop.exit_code)
        sys.exit(stop.exit_code)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
