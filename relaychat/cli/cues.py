"""`relaychat cues`: look inside cue sets and calibration traces (inspect, diff)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from relaychat.calibration.diff import CueSetDiff, diff_cue_sets
from relaychat.calibration.inspect_render import cue_table, fmt_num, legend, shaded_text
from relaychat.calibration.inspection import InspectError, load_view
from relaychat.cli.common import UserError
from relaychat.config import Settings
from relaychat.core.cueset import CueSetError, load_cue_set

EPILOG = """\
examples:
  relaychat cues inspect ~/.local/share/relaychat/calibration/cpu-demo-amc23-t200-seed0-k20
  relaychat cues inspect CALIB_DIR --item 3-s1          one calibration trace, small-model margins
  relaychat cues inspect CALIB_DIR --tui                browse every trace in a window
  relaychat cues inspect TRACE.jsonl --cues cues.json   a `relaychat run` trace against a cue set
  relaychat cues diff old/cues.json new/cues.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cues",
        help="inspect calibration traces and compare cue sets",
        description="See why a cue was kept or dropped (per-token margins and every place a cue fires), "
        "and compare two cue sets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="cues_command", metavar="COMMAND", required=True)
    inspect = commands.add_parser(
        "inspect",
        help="one trace with margin shading and cue marks",
        description="Show a trace with each token shaded by its margin p1 - p2 and each cue occurrence "
        "marked (kept or dropped, with its post-cue segment underlined), plus the cue statistics. TRACE is a "
        "calibration directory (or a file in it) or a `relaychat run` trace (.jsonl).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument("trace", type=Path, metavar="TRACE", help="calibration directory or run trace file")
    inspect.add_argument("--item", metavar="KEY", help="calibration item, e.g. 3-s1 (default: the first)")
    inspect.add_argument(
        "--cues",
        type=Path,
        metavar="FILE",
        help="cue set to mark (default: the calibration's cues.json, or the run's cues)",
    )
    inspect.add_argument("--tui", action="store_true", help="open an interactive viewer instead of printing")
    inspect.add_argument("--list", action="store_true", help="list the calibration items and exit")
    inspect.set_defaults(func=cmd_inspect)
    diff = commands.add_parser(
        "diff",
        help="compare two cue sets",
        description="Cues only in A, only in B and in both, how the two were made "
        "(pair, dataset, rule, ...), and each differing cue's statistics in both when the files carry them.",
    )
    diff.add_argument("a", type=Path, metavar="A", help="cue-set file (JSON/TOML)")
    diff.add_argument("b", type=Path, metavar="B", help="cue-set file (JSON/TOML)")
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")
    diff.set_defaults(func=cmd_diff)


def cmd_inspect(args: argparse.Namespace, settings: Settings) -> int:
    try:
        view = load_view(args.trace, args.item, args.cues)
    except InspectError as exc:
        raise UserError(str(exc)) from exc
    if args.list:
        print("\n".join(view.keys))
        return 0
    if args.tui:
        from relaychat.ui.cue_inspect import CueInspectApp

        CueInspectApp(args.trace, view, cue_file=args.cues).run()
        return 0
    out = Console(highlight=False, soft_wrap=True)
    out.print(Text(view.title, style="bold"))
    out.print(Text(view.source, style="dim"))
    out.print(legend(view))
    out.print()
    out.print(shaded_text(view))
    out.print()
    out.print(cue_table(view))
    return 0


def _load(path: Path) -> Any:
    try:
        return load_cue_set(path)
    except CueSetError as exc:
        raise UserError(str(exc)) from exc


def _stats_cell(stats: dict[str, Any]) -> str:
    if not stats:
        return "-"
    return f"{fmt_num(stats.get('mean'))} ± {fmt_num(stats.get('se'))} (n={stats.get('occurrences', '-')})"


def render_diff(diff: CueSetDiff, name_a: str, name_b: str) -> list[Any]:
    parts: list[Any] = []
    summary = Text()
    summary.append(f"{len(diff.both)} in both, ")
    summary.append(f"{len(diff.only_a)} only in A ({name_a}), ", "red")
    summary.append(f"{len(diff.only_b)} only in B ({name_b})", "green")
    parts.append(summary)
    if diff.metadata:
        meta = Table(title="how they were made (differences)", title_justify="left", header_style="bold")
        for column in ("setting", "A", "B"):
            meta.add_column(column)
        for key, a, b in diff.metadata:
            meta.add_row(key, json.dumps(a, ensure_ascii=False), json.dumps(b, ensure_ascii=False))
        parts.append(meta)
    table = Table(title="cues", title_justify="left", header_style="bold")
    for column in ("cue", "A", "B", "A: mean ± SE", "B: mean ± SE"):
        table.add_column(column)
    for row in diff.rows:
        status = "=" if row.in_a and row.in_b else ("-" if row.in_a else "+")
        style = "" if status == "=" else ("red" if status == "-" else "green")
        table.add_row(
            Text(f"{status} {json.dumps(row.cue, ensure_ascii=False)}", style),
            "yes" if row.in_a else "no",
            "yes" if row.in_b else "no",
            _stats_cell(row.stats_a),
            _stats_cell(row.stats_b),
        )
    parts.append(table)
    return parts


def cmd_diff(args: argparse.Namespace, settings: Settings) -> int:
    a, b = _load(args.a), _load(args.b)
    diff = diff_cue_sets(a, b)
    if args.json:
        print(json.dumps(diff.as_dict(), indent=2, ensure_ascii=False))
        return 0
    out = Console(highlight=False)
    for part in render_diff(diff, str(args.a), str(args.b)):
        out.print(part)
    return 0
