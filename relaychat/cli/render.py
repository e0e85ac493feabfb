"""Rich renderings shared by the terminal commands (not the TUI, which has its own widgets)."""

from __future__ import annotations

from statistics import mean, median

from rich.table import Table

from relaychat.core.events import RunSummary

LARGE_STYLE = "bold deep_sky_blue1"
SMALL_STYLE = "dark_orange"


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def summary_table(summary: RunSummary) -> Table:
    table = Table(title="run summary", show_header=True, header_style="bold", title_justify="left")
    table.add_column("")
    table.add_column("large", style=LARGE_STYLE, justify="right")
    table.add_column("small", style=SMALL_STYLE, justify="right")
    rows = [
        ("tokens (reasoning + answer)", lambda s: f"{s.tokens} ({s.reasoning_tokens} + {s.answer_tokens})"),
        ("discarded past a cut", lambda s: str(s.discarded_tokens)),
        ("segments", lambda s: str(s.segments)),
        ("TTFT mean", lambda s: _fmt(mean(s.ttft_s) * 1000 if s.ttft_s else None, " ms", 0)),
        ("decode", lambda s: _fmt(s.decode_tok_s, " tok/s", 1)),
    ]
    for label, get in rows:
        table.add_row(label, get(summary.large), get(summary.small))
    share = summary.large_share
    gaps = summary.switch_gaps_s
    cues = ", ".join(
        f"{c.strip() or repr(c)}×{n}" for c, n in sorted(summary.cue_hits.items(), key=lambda kv: -kv[1])
    )
    extra = Table.grid(padding=(0, 2))
    extra.add_row("large-model share", _fmt(share * 100 if share is not None else None, " %", 1))
    extra.add_row("switches", str(summary.switches))
    extra.add_row("cue hits", cues or "-")
    extra.add_row(
        "switch gap (median / mean)",
        f"{_fmt(median(gaps) * 1000 if gaps else None, ' ms', 0)} / "
        f"{_fmt(mean(gaps) * 1000 if gaps else None, ' ms', 0)}",
    )
    if summary.mode == "relay":
        extra.add_row("cue detection", summary.cue_detection)
        extra.add_row(
            "warm handoffs",
            f"{summary.prefill_feeds} feeds, {summary.early_starts} of {summary.switches} "
            f"switches started early ({summary.early_cancelled} early requests cancelled)",
        )
    extra.add_row(
        "wall time / TTFT",
        f"{summary.wall_s:.2f} s / {_fmt(summary.ttft_s * 1000 if summary.ttft_s else None, ' ms', 0)}",
    )
    extra.add_row("reasoning ended by", summary.reasoning_ended_by)
    extra.add_row("end reason", summary.finish_reason or "-")
    outer = Table.grid()
    outer.add_row(table)
    outer.add_row(extra)
    return outer
