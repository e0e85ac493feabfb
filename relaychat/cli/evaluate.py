"""`relaychat eval`: the paper's accuracy/latency table on a dataset, every mode, resumable."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from relaychat.cli.common import (
    UserError,
    add_cue_args,
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
from relaychat.core.events import Mode
from relaychat.core.profile import PairProfile
from relaychat.evaluation.datasets import DatasetError, load_dataset
from relaychat.evaluation.graders import ProcessGrader
from relaychat.evaluation.plot import plot_accuracy_latency, plot_projected
from relaychat.evaluation.projected import project_modes, with_projection
from relaychat.evaluation.records import ManifestMismatch, ResultStore, SampleRecord
from relaychat.evaluation.render import markdown, rich_table
from relaychat.evaluation.report import EvalReport, build_report
from relaychat.evaluation.run_lock import RunLock, RunLocked
from relaychat.evaluation.runner import EvalPlan, EvalRunner, default_out_dir, manifest_for, pending_keys
from relaychat.paths import data_dir
from relaychat.projection.costmodel import DEFAULT_TARGET, CostModel, bundled_names
from relaychat.relay import Relay, open_relay
from relaychat.storage import StorageError, describe, writable_dir

MODES: tuple[Mode, ...] = ("large", "small", "relay")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="accuracy and latency of large, small and relay on a benchmark",
        description="Run every problem of a dataset in every mode with the same prompt, sampling and grader, "
        "concurrently against the servers, then print pass@1 (with a 95% interval), latency, tokens, "
        "large-model share, switches and the paired speedup over large-only. Each sample is saved as it "
        "finishes (record + event trace): rerun the same command to resume; failed samples are retried, "
        "never scored as wrong. Writes report.json, report.md and accuracy_latency.png to the run folder.",
        epilog="example: relaychat eval --dataset amc23 --limit 5 --samples 1 --modes large,small,relay "
        "--max-tokens 200 --concurrency 2",
    )
    parser.add_argument(
        "--dataset",
        required=True,
        metavar="NAME|FILE",
        help="aime25, amc23, math500, gpqa (your own copy), or a .jsonl/.csv file",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="folder holding aime25.jsonl etc. (default: RELAYCHAT_DATA, "
        "settings `data`, else ../shared/data)",
    )
    parser.add_argument(
        "--modes",
        default="large,small,relay",
        metavar="LIST",
        help="comma-separated modes among large, small, relay (default: all three)",
    )
    parser.add_argument(
        "--samples", type=positive_int, default=1, metavar="K", help="samples per problem and mode"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=2, metavar="N", help="samples in flight at once"
    )
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N problems")
    parser.add_argument(
        "--max-tokens",
        type=positive_int,
        metavar="N",
        help="token budget per sample (default: the profile's)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="base seed; each (problem, sample) derives its own, shared by all modes (default: 0)",
    )
    parser.add_argument(
        "--retries", type=int, default=2, metavar="N", help="extra attempts for a failed sample"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="run folder (default: under the data dir, named after dataset, profile, budget and seed)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rebuild the report from saved samples; run nothing"
    )
    parser.add_argument(
        "--project-on",
        metavar="TARGET",
        help="the report's projected-speedup column and plot use this cost model: a bundled table "
        f"({', '.join(bundled_names())}) or a file; `off` leaves them out (default: settings "
        f"`projection_target`, else {DEFAULT_TARGET})",
    )
    add_cue_args(parser)
    add_profile_args(parser)
    parser.set_defaults(func=cmd_eval)


def parse_modes(text: str) -> list[Mode]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    wrong = [m for m in modes if m not in MODES]
    if wrong or not modes:
        raise UserError(f"--modes takes a comma-separated list of {', '.join(MODES)}; got {text!r}")
    return list(dict.fromkeys(modes))  # type: ignore[arg-type]


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    profile = resolve_profile(args, settings)
    modes = parse_modes(args.modes)
    try:
        problems = load_dataset(args.dataset, args.data or settings.data, limit=args.limit)
    except DatasetError as exc:
        raise UserError(str(exc)) from exc
    if args.max_tokens is not None and args.max_tokens < 8:
        raise UserError("--max-tokens must be at least 8 (room for reasoning and an answer)")
    plan = EvalPlan(
        problems, modes, args.samples, args.max_tokens, args.seed, args.concurrency, max(args.retries, 0)
    )
    store = ResultStore(args.out or default_out_dir(data_dir(), args.dataset, profile, plan))
    if args.report_only and not store.samples_path.is_file():
        raise UserError(
            f"no saved samples in {store.folder}: run without --report-only first (or pass --out)"
        )
    try:
        writable_dir(store.folder, "evaluation results")
    except StorageError as exc:
        raise UserError(str(exc)) from None
    lock = RunLock(store.folder)
    try:
        lock.acquire()
    except RunLocked as exc:
        raise UserError(str(exc)) from None
    try:
        return _evaluate(args, settings, profile, plan, store)
    finally:
        lock.release()


def _evaluate(
    args: argparse.Namespace, settings: Settings, profile: PairProfile, plan: EvalPlan, store: ResultStore
) -> int:
    try:
        store.prepare(manifest_for(profile, args.dataset, plan))
    except ManifestMismatch as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:
        raise UserError(f"cannot save evaluation results in {store.folder}: {describe(exc)}") from None
    err = message_console()
    grader = ProcessGrader()
    conn = connection(args, settings)
    pending = pending_keys(plan, store)
    total = len(plan.keys())
    err.print(
        f"{len(plan.problems)} problems x {len(plan.modes)} modes x {plan.samples} samples: "
        f"{total - len(pending)} done, {len(pending)} to run -> {store.folder}"
    )
    received: list[int] = []
    stopped: int | None = None
    try:
        with stop_signals():
            if pending and not args.report_only:
                with servers_up(profile, autostart=settings.autostart and not args.no_autostart) as measured:
                    asyncio.run(
                        _run_with_progress(
                            open_relay(profile, conn, costs=measured), plan, store, grader, err, received
                        )
                    )
    except KeyboardInterrupt:
        stopped = signal.SIGINT
    except Stopped as stop:
        stopped = stop.signum
    except asyncio.CancelledError:  # SIGTERM / SIGHUP inside the loop: in-flight traces say `cancelled`
        stopped = received[0] if received else signal.SIGINT
    except OSError as exc:  # the disk filled (or went read-only) mid-run: what was saved stays valid
        grader.terminate()
        done = _saved(store)
        raise UserError(
            f"cannot save evaluation results in {store.folder} any more: {describe(exc)}; {done} samples "
            "are saved; free some space and run the same command to resume"
        ) from None
    finally:
        if stopped is not None:
            grader.terminate()  # the worker and its resource tracker go with us, at once
        else:
            grader.close()
    if stopped is not None:
        how = "interrupted" if stopped == signal.SIGINT else f"stopped by {signal.Signals(stopped).name}"
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            err.print(
                f"[yellow]{how}[/]: {_saved(store)} samples saved in {store.folder}; "
                "run the same command to resume"
            )
        return exit_code(stopped)
    try:
        report = write_report(store, plan, profile, args.dataset, projection_target(args, settings))
    except OSError as exc:
        raise UserError(
            f"cannot write the report in {store.folder}: {describe(exc)}; the samples are saved "
            "(rerun with --report-only once there is room)"
        ) from None
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=200)  # logs and notes: never fold the table
    out.print(rich_table(report))
    failed = sum(m.failed for m in report.modes)
    missing = sum(m.planned - m.scored - m.failed for m in report.modes)
    if failed:
        err.print(
            f"[yellow]{failed} samples failed[/] (see `error` in {store.samples_path}); rerun to retry them"
        )
    if missing and args.report_only:
        err.print(f"{missing} planned samples have not been run yet")
    err.print(f"[dim]report: {store.folder / 'report.md'}, {store.folder / 'report.json'}[/]")
    return 1 if failed else 0


def _saved(store: ResultStore) -> int:
    try:
        return sum(1 for r in store.load().values() if r.status == "ok")
    except OSError:
        return 0


async def _run_with_progress(
    relay: Relay,
    plan: EvalPlan,
    store: ResultStore,
    grader: ProcessGrader,
    console: Console,
    received: list[int] | None = None,
) -> None:
    """Run the pending samples on `relay` (closed at the end) with a progress bar."""
    async with relay:
        runner = EvalRunner(relay, plan, store, grader)
        await _progress(runner, len(runner.pending()), console, received)


async def _progress(
    runner: EvalRunner, count: int, console: Console, received: list[int] | None = None
) -> None:
    counts = {"ok": 0, "failed": 0}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("evaluating", total=count)

        def on_record(record: SampleRecord) -> None:
            counts[record.status] += 1
            note = f"evaluating ({counts['failed']} failed)" if counts["failed"] else "evaluating"
            bar.update(task, advance=1, description=note)

        runner.on_record = on_record
        with cancel_on_stop_signals(received if received is not None else []):
            await runner.run()


def projection_target(args: argparse.Namespace, settings: Settings) -> CostModel | None:
    name = args.project_on or settings.projection_target or DEFAULT_TARGET
    return None if name == "off" else resolve_target(name)


def write_report(
    store: ResultStore,
    plan: EvalPlan,
    profile: PairProfile,
    dataset: str,
    target: CostModel | None = None,
) -> EvalReport:
    """Build the report from the saved samples and write JSON, Markdown and the PNG plots."""
    meta = {
        "dataset": dataset,
        "profile": profile.name,
        "problems": len(plan.problems),
        "samples": plan.samples,
        "modes": list(plan.modes),
        "max_tokens": plan.max_tokens or profile.max_tokens,
        "concurrency": plan.concurrency,
        "base_seed": plan.base_seed,
        "large_model": profile.large.display_name,
        "small_model": profile.small.display_name,
    }
    records = store.load()
    if target is not None:
        meta["projected_on"] = target.name
    report = build_report(records, plan.keys(), meta)
    if target is not None:
        planned = set(plan.keys())
        fields = with_projection(
            project_modes((r for k, r in records.items() if k in planned), store.folder, target), target.name
        )
        report.modes = [m.model_copy(update=fields.get(m.mode, {})) for m in report.modes]
    (store.folder / "report.json").write_text(
        json.dumps(report.model_dump(), indent=2) + "\n", encoding="utf-8"
    )
    (store.folder / "report.md").write_text(markdown(report), encoding="utf-8")
    plot_accuracy_latency(report, store.folder / "accuracy_latency.png")
    if target is not None:
        plot_projected(report, store.folder / "projected_speedup.png")
    return report
