"""`relaychat project`: what saved relay runs would take on another pair of servers (a cost model)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.text import Text

from relaychat.cli.common import UserError, err_console
from relaychat.config import Settings
from relaychat.projection.costmodel import (
    DEFAULT_TARGET,
    CostModel,
    CostModelError,
    bundled_names,
    load_cost_model,
)
from relaychat.projection.project import Projection, project, total
from relaychat.projection.shape import ShapeError, load_shape

DESCRIPTION = """\
Replay the token and switch structure of saved relay traces (from `run`, `chat`, `eval`, `bench
--save-traces`) through a cost model of a pair, and report what they would take there: the relay with
RelayChat's warm handoffs (feeds, early starts) and with cold ones, the large model alone for the same
tokens, the speedup, the token-cost bound (free switches), 1/share (a free small model too) and what the
switches cost. Only the structure of each trace is used (who wrote how many tokens, in which order),
never its timings: the pair it was run on does not matter.
"""

EPILOG = f"""\
targets:
  {", ".join(bundled_names())} (bundled H200 tables of the paper's pairs; default {DEFAULT_TARGET}),
  or a cost-model file (`relaychat costs measure` writes one for any servers you can reach)

examples:
  relaychat project ~/.local/share/relaychat/traces/*.jsonl
  relaychat project run.jsonl --on h200-r1 --json
  relaychat project run.jsonl --on my-pair-costs.json

exit codes: 0 every trace projected; 2 a trace could not be projected (one line each says why; the
others are still reported) or the target is not a cost model.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "project",
        help="project saved relay traces onto a GPU pair's cost model",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("traces", type=Path, nargs="+", metavar="TRACE", help="saved trace files (.jsonl)")
    parser.add_argument(
        "--on",
        dest="target",
        metavar="TARGET",
        default=None,
        help=f"a bundled table ({', '.join(bundled_names())}) or a cost-model file "
        f"(default: settings `projection_target`, else {DEFAULT_TARGET})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object: each trace and the total")
    parser.set_defaults(func=cmd_project)


def resolve_target(name: str | None, settings: Settings | None = None) -> CostModel:
    chosen = name or (settings.projection_target if settings else None) or DEFAULT_TARGET
    try:
        return load_cost_model(chosen)
    except CostModelError as exc:
        raise UserError(str(exc)) from exc


def cmd_project(args: argparse.Namespace, settings: Settings) -> int:
    costs = resolve_target(args.target, settings)
    projections: list[Projection] = []
    failures: list[str] = []
    for path in args.traces:
        try:
            projections.append(project(load_shape(path), costs))
        except ShapeError as exc:
            failures.append(str(exc))
    for message in failures:
        line = Text.assemble(("error:", "bold red"), " cannot project ", message.replace("\n", " "))
        err_console.print(line, highlight=False, soft_wrap=True)
    if args.json:
        print(json.dumps(as_json(projections, costs), indent=1))
    elif projections:
        show(Console(highlight=False), projections, costs)
    return 2 if failures else 0


def as_json(projections: list[Projection], costs: CostModel) -> dict[str, object]:
    return {
        "target": costs.name,
        "target_title": costs.title,
        "traces": [p.as_json() for p in projections],
        "total": total(projections, costs.name).as_json() if projections else None,
    }


def show(out: Console, projections: list[Projection], costs: CostModel) -> None:
    out.print(Text(f"projected on {costs.title}", style="bold"))
    rows = [*projections, total(projections, costs.name)] if len(projections) > 1 else projections
    for p in rows:
        out.print(describe(p))
    source = costs.provenance
    out.print(
        Text(
            "relay: with RelayChat's warm handoffs (feeds, early starts); cold: every switch reads the "
            "other model's tokens; alone: the large model alone writing the same tokens; bound: free "
            "switches; 1/share: a free small model too. "
            f"Costs: {source.device} ({source.source}"
            + (f", {source.measured_at}" if source.measured_at else "")
            + ").",
            style="dim",
        )
    )


def describe(p: Projection) -> Text:
    """Two lines per trace: what it is, then what it would take."""
    name = "total" if p.name == "total" else p.name
    return Text.assemble(
        (name, "bold"),
        f"  {p.tokens} tokens, {p.large_share:.1%} large, {p.switches} switches\n",
        "  relay ",
        (f"{p.relay_s:.2f} s", "bold"),
        f" (cold {p.relay_cold_s:.2f} s)  alone {p.large_only_s:.2f} s  speedup ",
        (f"{p.projected_speedup:.2f}x", "bold"),
        f" (cold {p.cold_speedup:.2f}x)\n  bound {p.bound_speedup:.2f}x  1/share {p.share_bound:.2f}x  "
        f"switches cost {p.switch_overhead_s:.2f} s (cold {p.cold_switch_overhead_s:.2f} s)",
    )
