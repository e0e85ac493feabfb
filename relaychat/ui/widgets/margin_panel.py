"""Sparkline of the per-token margin p1 - p2, each bar in the colour of the model that wrote it.

p1 - p2 is the probability of the chosen token minus that of the runner-up: 1 = certain, 0 = a coin
toss. The bars have a 0-1 axis on their left, so a newcomer can read the height.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from relaychat.core.events import Role
from relaychat.ui.live_stats import LiveStats

BARS = " ▁▂▃▄▅▆▇█"
ROLE_STYLE = {"large": "$relay-large", "small": "$relay-small"}
AXIS = ("1┤", " │", "0┤")  # one label per bar row (BAR_ROWS)


def spark_rows(values: list[tuple[Role, float | None]], height: int) -> list[list[tuple[str, str]]]:
    """Bars `height` rows tall (8 levels per row); a token without a margin is a muted dot."""
    rows: list[list[tuple[str, str]]] = [[] for _ in range(height)]
    for role, value in values:
        level = None if value is None else max(0.0, min(1.0, value)) * height * 8
        for r in range(height):
            if level is None:
                cell = ("·", "$relay-muted") if r == height - 1 else (" ", "")
            else:
                fill = round(max(0.0, min(8.0, level - (height - 1 - r) * 8)))
                cell = (BARS[fill], ROLE_STYLE[role])
            rows[r].append(cell)
    return rows


class MarginPanel(Widget):
    DEFAULT_CSS = "MarginPanel { height: 6; }"
    BAR_ROWS = 3

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.border_title = "sureness: p(top) − p(2nd)"
        self._values: list[tuple[Role, float | None]] = []
        self._writer: Role | None = None
        self._last: float | None = None
        self._mean: float | None = None
        self._names: dict[Role, str] = {}

    def show(self, stats: LiveStats) -> None:
        self._values = list(stats.margins)
        self._writer = stats.current
        self._last = stats.last_margin(stats.current) if stats.current else None
        self._mean = stats.mean_margin(stats.current) if stats.current else None
        self._names = {role: name for role, name in stats.models.items() if name}
        self.refresh()

    def render(self) -> Content:
        width = max(1, self.content_size.width)
        values = self._values[-max(1, width - len(AXIS[0])) :]
        if self._writer is None:
            head = Content.styled("waiting for tokens", "$relay-muted")
        else:
            style = ROLE_STYLE[self._writer]
            name = self._names.get(self._writer, self._writer)
            head = Content.assemble(
                ("■ ", style),
                (name[: max(4, width - 26)], style),
                "  now ",
                (_fmt(self._last), "bold"),
                "  mean ",
                (_fmt(self._mean), "bold"),
            )
        lines = [head]
        for axis, row in zip(AXIS, spark_rows(values, self.BAR_ROWS), strict=True):
            lines.append(Content.assemble((axis, "$relay-muted"), *row))
        return Content("\n").join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
