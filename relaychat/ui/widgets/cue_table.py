"""Cues that fired in this generation: count, tokens the small model wrote after them, mean margin."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable

from relaychat.ui.live_stats import CueStat, LiveStats

COLUMNS = (("cue", "cue", 14), ("hits", "hits", 4), ("→small", "tokens", 6), ("margin", "margin", 6))


class CueTable(DataTable[str | int]):
    """Click a column header to sort by it (again to reverse); from the keyboard, s and r."""

    BINDINGS = [
        Binding("s", "next_sort", "Sort by next column"),
        Binding("r", "reverse_sort", "Reverse sort"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.border_title = "cue hits"
        self.border_subtitle = "sorted by hits ↓"
        self.sort_column = "hits"
        self.sort_reverse = True
        self._shown: dict[str, tuple[int, int, str]] = {}

    def on_mount(self) -> None:
        for label, key, width in COLUMNS:  # fixed widths: the table does not jump as rows arrive
            self.add_column(label, key=key, width=width)

    def show(self, stats: LiveStats) -> None:
        changed = False
        for stat in stats.cues.values():
            row = _row(stat)
            if self._shown.get(stat.cue) == row[1:]:
                continue
            changed = True
            if stat.cue in self._shown:
                values: tuple[str | int, ...] = row[1:]
                for (_, key, _), value in zip(COLUMNS[1:], values, strict=False):
                    self.update_cell(stat.cue, key, value)
            else:
                self.add_row(*row, key=stat.cue)
            self._shown[stat.cue] = row[1:]
        if changed:
            self._resort()

    def reset(self) -> None:
        self.clear()
        self._shown.clear()

    def _resort(self) -> None:
        def key(value: object) -> object:
            if self.sort_column == "cue":
                return str(value).lower()
            try:
                return float(str(value))
            except ValueError:
                return -1.0

        self.sort(self.sort_column, key=key, reverse=self.sort_reverse)
        arrow = "↓" if self.sort_reverse else "↑"
        label = {"tokens": "→small", "margin": "margin"}.get(self.sort_column, self.sort_column)
        self.border_subtitle = f"sorted by {label} {arrow}" + (" · s/r sort" if self.has_focus else "")

    def action_next_sort(self) -> None:
        keys = [key for _, key, _ in COLUMNS]
        column = keys[(keys.index(self.sort_column) + 1) % len(keys)]
        self.sort_column, self.sort_reverse = column, column != "cue"
        self._resort()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._resort()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        self.sort_reverse = not self.sort_reverse if column == self.sort_column else column != "cue"
        self.sort_column = column
        self._resort()


def _row(stat: CueStat) -> tuple[str, int, int, str]:
    mean = stat.mean_margin
    return (
        repr(stat.cue) if stat.cue != stat.cue.strip() else stat.cue,
        stat.count,
        stat.small_tokens,
        "-" if mean is None else f"{mean:.2f}",
    )
