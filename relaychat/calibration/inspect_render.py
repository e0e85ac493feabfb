"""Rich renderings of an `InspectView`, shared by the terminal command and the TUI screen.

Each token's background shades from red (margin 0: the small model is torn) to green (margin 1: it
is sure); a kept cue is bold on green, a dropped one bold on grey, and its post-cue segment (the
stretch the small model would write) is underlined.
"""

from __future__ import annotations

import json

from rich.color import Color
from rich.style import Style
from rich.table import Table
from rich.text import Text

from relaychat.calibration.inspection import InspectView
from relaychat.inert import inert

KEPT_STYLE = Style(bold=True, color="black", bgcolor="bright_green")
DROPPED_STYLE = Style(bold=True, color="black", bgcolor="grey62")
SEGMENT_STYLE = Style(underline=True)


def margin_colour(margin: float) -> Color:
    """Dark red (0) through dark yellow to dark green (1): readable under light text."""
    m = min(1.0, max(0.0, margin))
    red = int(300 * (1 - m) if m > 0.5 else 150)
    green = int(120 * (m / 0.5) if m < 0.5 else 120)
    return Color.from_rgb(red, green, 20)


def shaded_text(view: InspectView) -> Text:
    text = Text(inert(view.text))  # one char per char: the span offsets still fit
    for span in view.spans:
        if span.margin is not None and span.end > span.start:
            text.stylize(Style(bgcolor=margin_colour(span.margin)), span.start, span.end)
    for mark in view.marks:
        text.stylize(SEGMENT_STYLE, mark.start, mark.end)
        text.stylize(KEPT_STYLE if mark.kept else DROPPED_STYLE, mark.cue_start, mark.start)
    return text


def legend(view: InspectView) -> Text:
    out = Text()
    out.append("margin ")
    for value in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(f" {value:g} ", Style(bgcolor=margin_colour(value)))
    out.append("   ")
    out.append(" kept cue ", KEPT_STYLE)
    out.append(" ")
    out.append(" dropped cue ", DROPPED_STYLE)
    out.append(" ")
    out.append("post-cue segment", SEGMENT_STYLE)
    if view.global_mean is not None:
        out.append(f"   global mean {view.global_mean:.3f}")
    return out


def fmt_num(value: object) -> str:
    """Three decimals, or '-' for a missing value."""
    return f"{value:.3f}" if isinstance(value, float) else "-"


def cue_table(view: InspectView) -> Table:
    """Per cue firing in this trace: what it scored here, and the calibration's verdict."""
    table = Table(title="cues in this trace", title_justify="left", header_style="bold")
    for column in ("cue", "kept", "here: n", "here: mean", "all: n", "all: mean ± SE", "bar", "why"):
        table.add_column(column, justify="right" if column not in ("cue", "why") else "left")
    by_cue: dict[str, list[float | None]] = {}
    for mark in view.marks:
        by_cue.setdefault(mark.cue, []).append(mark.mean)
    for cue, means in sorted(by_cue.items(), key=lambda kv: (kv[0] not in view.kept, kv[0])):
        here = [m for m in means if m is not None]
        stats = view.statistics.get(cue, {})
        se = stats.get("se")
        overall = f"{fmt_num(stats.get('mean'))} ± {fmt_num(se)}" if stats else "-"
        table.add_row(
            json.dumps(cue, ensure_ascii=False),
            Text("yes", "green") if cue in view.kept else Text("no", "red"),
            str(len(means)),
            fmt_num(sum(here) / len(here)) if here else "-",
            str(stats.get("occurrences", "-")),
            overall,
            fmt_num(stats.get("bar")),
            str(stats.get("reason", "")),
        )
    return table
