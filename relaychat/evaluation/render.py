"""The evaluation report as a terminal table and as Markdown (same columns, same rounding)."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table

from relaychat.evaluation.report import EvalReport, ModeReport


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}"


def _num(v: float | None, digits: int = 2, scale: float = 1.0) -> str:
    return "-" if v is None else f"{v * scale:.{digits}f}"


def _interval(m: ModeReport) -> str:
    return "-" if m.ci_low is None else f"{_pct(m.ci_low)}-{_pct(m.ci_high)}"


def _scored(m: ModeReport) -> str:
    return f"{m.scored}/{m.planned}" + (f" ({m.failed} failed)" if m.failed else "")


COLUMNS: list[tuple[str, Callable[[ModeReport], str]]] = [
    ("mode", lambda m: m.mode),
    ("pass@1 %", lambda m: _pct(m.pass_at_1)),
    ("95% CI", _interval),
    ("scored", _scored),
    ("latency s", lambda m: _num(m.latency_mean_s)),
    ("median s", lambda m: _num(m.latency_median_s)),
    ("speedup", lambda m: "-" if m.speedup_vs_large is None else f"{m.speedup_vs_large:.2f}x"),
    ("projected", lambda m: "-" if m.projected_speedup is None else f"{m.projected_speedup:.2f}x"),
    ("tokens", lambda m: _num(m.tokens_mean, 0)),
    ("large %", lambda m: _pct(m.large_share)),
    ("switches", lambda m: _num(m.switches_mean, 1)),
    ("TTFT ms", lambda m: _num(m.ttft_mean_s, 0, 1000)),
    ("TPOT ms", lambda m: _num(m.tpot_mean_ms, 1)),
    ("boxed %", lambda m: _pct(m.boxed_in_answer)),
]


def _projected_note(report: EvalReport) -> str:
    target = next((m.projected_on for m in report.modes if m.projected_on), None)
    if target is None:
        return ""
    return (
        f" Projected: each sample's token and switch structure through the {target} cost model, "
        "large alone for the same tokens over this mode's projected time (warm handoffs), summed over "
        "the samples; `relaychat project` gives it per trace."
    )


def _title(report: EvalReport) -> str:
    meta = report.meta
    return (
        f"{meta.get('dataset', '?')} on {meta.get('profile', '?')}: {meta.get('problems', '?')} problems x "
        f"{meta.get('samples', '?')} samples, budget {meta.get('max_tokens', '?')} tokens, "
        f"concurrency {meta.get('concurrency', '?')}"
        + (f", projected on {meta['projected_on']}" if meta.get("projected_on") else "")
    )


def rich_table(report: EvalReport) -> Table:
    table = Table(title=_title(report), title_justify="left", header_style="bold")
    for name, _ in COLUMNS:
        table.add_column(name, justify="left" if name == "mode" else "right", no_wrap=True)
    for mode in report.modes:
        table.add_row(*(get(mode) for _, get in COLUMNS))
    return table


def markdown(report: EvalReport) -> str:
    lines = [f"# Evaluation: {_title(report)}", ""]
    lines.append("| " + " | ".join(name for name, _ in COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    for mode in report.modes:
        lines.append("| " + " | ".join(get(mode) for _, get in COLUMNS) + " |")
    lines += [
        "",
        (
            "pass@1: mean over problems of the share of correct samples; failed samples are not scored. "
            f"CI: {', '.join(sorted({m.ci_method for m in report.modes}))}. "
            "Speedup: large-only time over this mode's time, summed over the (problem, sample) pairs both "
            "finished (same seed). Latency is end to end per sample, measured under the run's concurrency. "
            "TPOT: (latency - TTFT) / (tokens - 1), switch gaps included." + _projected_note(report)
        ),
        "",
        f"Generated {report.created}.",
        "",
    ]
    return "\n".join(lines)
