"""`relaychat costs`: measure a pair's cost model from its running servers, or show one."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.text import Text

from relaychat.cli.common import UserError, add_profile_args, resolve_profile
from relaychat.cli.project import resolve_target
from relaychat.config import Settings
from relaychat.core.events import Role
from relaychat.projection.costmodel import CostModel, bundled_names
from relaychat.projection.measured import measure_pair
from relaychat.redact import redact_url
from relaychat.serving.cost_probe import ProbeError, served_block_size, served_model
from relaychat.serving.hardware import read_cpu
from relaychat.serving.manager import is_healthy

EPILOG = f"""\
examples:
  relaychat costs measure --profile cpu-demo --out cpu-demo-costs.json
  relaychat costs measure --profile qwen3-1.7b-32b --large-url http://gpu:8000 \
      --small-url http://gpu:8001 --out gpu.json
  relaychat costs show h200-qwen3
  relaychat project TRACE.jsonl --on cpu-demo-costs.json

bundled tables: {", ".join(bundled_names())}
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "costs",
        help="measure a pair's cost model (for `project`), or show one",
        description="Cost models say what each model of a pair costs per token (decode), per prefill "
        "chunk and per request. `measure` probes the profile's running servers (a few seconds each; "
        "nothing is started) and writes the file `relaychat project --on FILE` reads; `show` prints a "
        "bundled table or a file with its provenance.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    measure = actions.add_parser("measure", help="probe the running servers of a profile")
    add_profile_args(measure)
    measure.add_argument("--out", type=Path, required=True, help="where to write the cost model (.json)")
    measure.add_argument(
        "--decode-tokens",
        type=int,
        default=48,
        metavar="N",
        help="tokens per decode measurement (default 48; more averages out a busy machine)",
    )
    measure.set_defaults(func=cmd_measure)
    show = actions.add_parser("show", help="print a cost model")
    show.add_argument("target", nargs="?", default=None, help="a bundled table or a cost-model file")
    show.set_defaults(func=cmd_show)


def cmd_measure(args: argparse.Namespace, settings: Settings) -> int:
    profile = resolve_profile(args, settings)
    served: dict[Role, str] = {}
    block = None
    for role in ("large", "small"):
        spec = profile.spec(role)
        if not is_healthy(spec.url):
            raise UserError(f"no server answers for the {role} model at {redact_url(spec.url)}")
        name = spec.served_name or served_model(spec.url)
        if name is None:
            raise UserError(f"{redact_url(spec.url)} lists no model in /v1/models")
        served[role] = name
        block = block or served_block_size(spec.url)
    cpu = read_cpu()
    device = f"{cpu.describe()}, vLLM servers of profile {profile.name}"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        model = measure_pair(
            profile, served, block or 16, f"{device}; load average {load}", cpu.key, args.decode_tokens
        )
    except ProbeError as exc:
        raise UserError(str(exc)) from exc
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(model.dump(), encoding="utf-8")
    out = Console(highlight=False, soft_wrap=True)
    show(out, model)
    out.print(Text(f"written to {args.out}", style="dim"))
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    show(Console(highlight=False, soft_wrap=True), resolve_target(args.target, settings))
    return 0


def show(out: Console, model: CostModel) -> None:
    out.print(Text(f"{model.title}  ({model.name}, KV block {model.block_size})", style="bold"))
    for role in ("large", "small"):
        costs = model.role(role)
        out.print(Text(f"{role}: {costs.name}; request {costs.request_ms:.1f} ms ({costs.request_basis})"))
        for point in costs.points:
            chunks = "  ".join(f"{k}:{v:.1f}" for k, v in point.ms.items())
            out.print(Text(f"  context {point.context}: ms by chunk size  {chunks}"))
    out.print(Text(f"decode cost ratio small/large: {model.cost_ratio:.3f}"))
    p = model.provenance
    when = f", {p.measured_at}" if p.measured_at else ""
    out.print(Text(f"{p.source} on {p.device}{when}", style="dim"))
    out.print(Text(f"method: {p.method}", style="dim"))
    for caveat in p.caveats:
        out.print(Text(f"- {caveat}", style="dim"))
