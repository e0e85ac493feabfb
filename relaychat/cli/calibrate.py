"""`relaychat calibrate`: select a pair's switch cues from data (docs/how-it-works.md), resumably."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from relaychat.calibration.analysis import analyse, trace_margins
from relaychat.calibration.candidates import CANDIDATE_POOL
from relaychat.calibration.metadata import cue_set_metadata, run_identity
from relaychat.calibration.output import build_cue_set, write_cue_set
from relaychat.calibration.pipeline import (
    PipelineResult,
    PipelineSettings,
    run_pipeline,
    scores_log,
    traces_log,
)
from relaychat.calibration.plot import PlotUnavailable, plot_cue_margins
from relaychat.calibration.projected import projection_section
from relaychat.calibration.report import write_report
from relaychat.calibration.selection import RULES, SelectionRule
from relaychat.calibration.stats import SE_METHODS
from relaychat.calibration.store import JsonlLog, StateError
from relaychat.cli.common import (
    UserError,
    add_profile_args,
    connection,
    resolve_profile,
    servers_up,
)
from relaychat.cli.consoles import message_console
from relaychat.cli.project import resolve_target
from relaychat.cli.run import positive_int
from relaychat.cli.stopping import Stopped, cancel_on_stop_signals, exit_code, stop_signals
from relaychat.config import Settings
from relaychat.core.cueset import CueSetError, load_cue_set
from relaychat.evaluation.datasets import DatasetError, dataset_file, load_dataset
from relaychat.inert import inert
from relaychat.paths import data_dir
from relaychat.relay import Relay, open_relay

EPILOG = """\
examples:
  relaychat calibrate --profile cpu-demo --dataset amc23 --samples 2 --limit 5 --max-tokens 200
  relaychat calibrate --profile qwen3-1.7b-32b --dataset amc23 --samples 4      (the paper's 40 x 4)
  relaychat calibrate ... --rule mean-se --threshold 2 --se bootstrap            (re-analyse: instant)
  relaychat run --cues DIR/cues.json "What is 17 * 23?"

Work is saved under --out as it finishes (traces.jsonl, scores.jsonl): after a crash or Ctrl-C, rerun
the same command to continue. Rerunning with another rule, threshold, SE method or candidate list
reuses the saved traces and scores. Outputs: cues.json (a cue set with all statistics), report.md,
margins.png.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="select switch cues from data (offline calibration)",
        description="Generate reasoning traces with the large model, score them with the small model "
        "(prompt logprobs inside its chat template), measure the small model's margin after each candidate "
        "cue, and keep the cues whose post-cue margin clears the global mean by the rule's bar.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        default="amc23",
        metavar="NAME|FILE",
        help="aime25, amc23, math500, gpqa (from the data dir), or a .jsonl/.csv file (default: amc23)",
    )
    data.add_argument(
        "--data", metavar="DIR", help="data directory (default: settings, $RELAYCHAT_DATA, ../shared/data)"
    )
    data.add_argument("--limit", type=positive_int, metavar="N", help="use the first N problems only")
    data.add_argument(
        "--samples", type=positive_int, default=4, metavar="N", help="traces per problem (default: 4)"
    )
    data.add_argument(
        "--max-tokens",
        type=positive_int,
        metavar="N",
        help="reasoning tokens per trace (default: the profile's budget)",
    )
    data.add_argument("--seed", type=int, help="calibration seed (default: the profile's, else 0)")
    data.add_argument(
        "--k",
        type=positive_int,
        default=20,
        metavar="K",
        help="top-k of the prompt logprobs (default: 20, the server's usual cap)",
    )
    data.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where work and results go (default: a folder in the data dir named after the settings)",
    )
    sel = parser.add_argument_group("selection")
    sel.add_argument(
        "--rule",
        choices=RULES,
        default="mean-se",
        help="mean-se (the paper's), mean-delta, or all (default: mean-se)",
    )
    sel.add_argument(
        "--threshold",
        type=float,
        default=1.0,
        help="z for mean-se, the absolute gap for mean-delta (default: 1.0)",
    )
    sel.add_argument(
        "--se",
        choices=SE_METHODS,
        default="segment",
        help="standard error over segments (default), a cluster bootstrap over traces, "
        "or pooled tokens (the reference's weak bar)",
    )
    sel.add_argument(
        "--bootstrap-rounds",
        type=positive_int,
        default=1000,
        metavar="N",
        help="resamples for --se bootstrap",
    )
    sel.add_argument(
        "--min-occurrences",
        type=positive_int,
        default=2,
        metavar="N",
        help="occurrences a cue needs to be considered (default: 2)",
    )
    sel.add_argument(
        "--candidates", metavar="FILE", help="cue-set file with the candidates (default: the paper's 91)"
    )
    run = parser.add_argument_group("execution")
    run.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="N",
        help="traces generated at once (default: 4)",
    )
    run.add_argument(
        "--score-concurrency",
        type=positive_int,
        default=1,
        metavar="N",
        help="traces scored at once; prompt logprobs are memory-hungry (default: 1)",
    )
    run.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="N",
        help="retries of a failed item before it is reported (default: 2)",
    )
    run.add_argument("--no-plot", action="store_true", help="skip margins.png")
    run.add_argument(
        "--project-on",
        metavar="TARGET",
        help="report each candidate cue set's projected speedup on this cost model beside its accuracy "
        "signal: a bundled table or a file; `off` leaves it out (default: settings `projection_target`, "
        "else h200-qwen3)",
    )
    add_profile_args(parser)
    parser.set_defaults(func=cmd_calibrate)


def _candidates(arg: str | None) -> list[str]:
    if not arg:
        return list(CANDIDATE_POOL)
    try:
        cues = load_cue_set(arg).cues
    except CueSetError as exc:
        raise UserError(str(exc)) from exc
    if not cues:
        raise UserError(f"{arg} lists no candidate cues")
    return cues


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    profile = resolve_profile(args, settings)
    candidates = _candidates(args.candidates)
    try:
        data = args.data or settings.data
        path = dataset_file(args.dataset, data)  # recorded (name, sha256) so saved work matches the data
        problems = load_dataset(args.dataset, data, args.limit, require_answers=False)
    except DatasetError as exc:
        raise UserError(str(exc)) from exc
    if args.retries < 0:
        raise UserError("--retries must be 0 or more")
    if args.k > 20:
        message_console().print("[yellow]note:[/] vLLM rejects --k above its --max-logprobs (20 by default)")
    max_tokens = args.max_tokens or profile.max_tokens
    seed = args.seed if args.seed is not None else (profile.seed if profile.seed is not None else 0)
    out: Path = (
        args.out
        or data_dir() / "calibration" / f"{profile.name}-{path.stem}-t{max_tokens}-seed{seed}-k{args.k}"
    )
    pipeline = PipelineSettings(
        out=out,
        problems=problems,
        samples=args.samples,
        max_tokens=max_tokens,
        seed=seed,
        k=args.k,
        concurrency=args.concurrency,
        score_concurrency=args.score_concurrency,
        retries=args.retries,
        identity=run_identity(profile, path, max_tokens, seed, args.k),
    )
    err = message_console()
    err.print(
        f"calibrating [bold]{profile.name}[/] on {path.stem}: {len(problems)} problems x {args.samples} "
        f"samples, {max_tokens} tokens each; work saved in {out}"
    )
    received: list[int] = []
    try:
        with (
            stop_signals(),
            servers_up(profile, autostart=settings.autostart and not args.no_autostart) as measured,
        ):
            relay = open_relay(profile, connection(args, settings), costs=measured)
            result = asyncio.run(_run(pipeline, relay, err, received))
    except KeyboardInterrupt:
        return _stopped(signal.SIGINT, out, err)
    except Stopped as stop:
        return _stopped(stop.signum, out, err)
    except asyncio.CancelledError:  # SIGTERM / SIGHUP inside the loop: the pipeline unwound
        return _stopped(received[0] if received else signal.SIGINT, out, err)
    if result.failures:
        for failure in result.failures[:5]:
            err.print(
                Text.assemble(
                    ("failed", "red"), f" {failure.key} ({failure.stage}): ", inert(failure.message)
                )
            )
        raise UserError(
            f"{len(result.failures)} of {len(pipeline.items())} items failed after {args.retries} retries; "
            f"finished work is kept in {out}: rerun the same command to retry them"
        )
    rule = SelectionRule(args.rule, args.threshold, args.min_occurrences)
    analysis = analyse(
        trace_margins(result.traces, result.scores),
        candidates,
        rule,
        args.se,
        seed=seed,
        bootstrap_rounds=args.bootstrap_rounds,
    )
    metadata = cue_set_metadata(
        profile,
        path,
        len(problems),
        args.samples,
        seed=seed,
        k=args.k,
        max_tokens=max_tokens,
        candidates=candidates,
        result=result,
    )
    cue_set = build_cue_set(f"{profile.name}-{path.stem}", analysis, metadata)
    target = None if args.project_on == "off" else resolve_target(args.project_on, settings)
    if target is not None:
        sets = {"selected": analysis.selected, f"profile {profile.name}": list(profile.cues)}
        sets["all candidates"] = candidates
        margins = trace_margins(result.traces, result.scores)
        cue_set["projection"] = projection_section(margins, sets, target, analysis.overall.mean)
    cue_file = write_cue_set(out / "cues.json", cue_set)
    plot_name: str | None = None
    if not args.no_plot:
        try:
            plot_name = plot_cue_margins(cue_set, out / "margins.png").name
        except PlotUnavailable as exc:
            err.print(f"[yellow]note:[/] {exc}")
    report = write_report(out / "report.md", cue_set, plot_name)
    _print_result(cue_set, cue_file, report, result)
    return 0


def _stopped(signum: int, out: Path, err: Console) -> int:
    """One line saying what is saved (whole lines only: the store never leaves a torn one), then the
    exit code for that signal (130 / 143 / 129); the servers this command started are already stopped."""
    traces = scores = 0
    with contextlib.suppress(OSError, StateError):
        traces, scores = len(_keys(traces_log(out))), len(_keys(scores_log(out)))
    how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
        err.print(
            Text.assemble(
                (how, "yellow"),
                f": {traces} traces and {scores} scores saved in {out}; run the same command to resume",
            ),
            soft_wrap=True,
        )
    return exit_code(signum)


def _keys(log: JsonlLog) -> set[str]:
    return {str(r.get("key")) for r in log.records()}


async def _run(
    pipeline: PipelineSettings, relay: Relay, err: Console, received: list[int] | None = None
) -> PipelineResult:
    """The pipeline on `relay`, closed at the end; a stop signal cancels it (saved work stays)."""
    total = len(pipeline.items())
    async with relay:
        with Progress(
            TextColumn("[bold]{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            tasks = {
                "traces": bar.add_task("traces", total=total),
                "scores": bar.add_task("scores", total=total),
            }
            started = time.perf_counter()

            def progress(stage: str, done: int, _total: int) -> None:
                bar.update(tasks[stage], completed=done)

            try:
                with cancel_on_stop_signals(received if received is not None else []):
                    result = await run_pipeline(pipeline, relay, progress)
            except StateError as exc:
                raise UserError(str(exc)) from exc
            bar.console.print(f"[dim]pipeline finished in {time.perf_counter() - started:.1f} s[/]")
            return result


def _print_result(cue_set: dict[str, Any], cue_file: Path, report: Path, result: PipelineResult) -> None:
    out = Console(highlight=False)
    g = cue_set["global"]
    out.print(
        f"global mean margin {g['mean_margin']:.4f} over {g['tokens']} tokens in {g['traces']} traces"
        if g["mean_margin"] is not None
        else "no scored tokens"
    )
    out.print(f"rule: {cue_set['rule']['description']} (SE over {cue_set['rule']['standard_error']})")
    cues = cue_set["cues"]
    out.print(
        f"selected {len(cues)} of {len(cue_set['statistics'])} candidates: "
        + (", ".join(repr(c) for c in cues) or "none")
    )
    section: dict[str, Any] = cue_set.get("projection") or {"sets": []}
    for row in section["sets"]:
        margin = "-" if row["small_mean_margin"] is None else f"{row['small_mean_margin']:.3f}"
        out.print(
            f"{row['name']}: {row['cues']} cues, projected {row['projected_speedup']:.2f}x on "
            f"{section['target']} (bound {row['bound_speedup']:.2f}x, large {row['large_share']:.0%}), "
            f"small mean margin {margin}"
        )
    out.print(f"cue set: {cue_file}\nreport:  {report}")
    out.print(f'use it:  relaychat run --profile {cue_set["pair"]["profile"]} --cues {cue_file} "..."')
