"""Each server: health, model name, decode rate and TTFT of its last segment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual.content import Content
from textual.widgets import Static

from relaychat.core.events import Role
from relaychat.inert import inert
from relaychat.ui.live_stats import LiveStats

Health = Literal["up", "down", "starting", "unknown"]
HEALTH_STYLE = {"up": "$success", "down": "$error", "starting": "$warning", "unknown": "$relay-muted"}


@dataclass
class ServerRow:
    name: str
    url: str
    health: Health = "unknown"
    tok_s: float | None = None
    ttft_s: float | None = None
    setup: str = ""  # e.g. "bfloat16 · block 32 · auto: native bf16, switch ~64 ms" ("" : not known)


class StatusPanel(Static):
    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.border_title = "servers"
        self.rows: dict[Role, ServerRow] = {}

    def set_servers(self, rows: dict[Role, ServerRow]) -> None:
        self.rows = rows
        self._draw()

    def set_health(self, role: Role, health: Health, name: str | None = None) -> None:
        row = self.rows.get(role)
        if row is not None:
            row.health = health
            row.name = inert(name) if name else row.name  # the server names itself: untrusted
            self._draw()

    def set_setup(self, role: Role, setup: str, reason: str = "") -> None:
        """The serving setup a server runs with (dtype, block size) and why; the full reason as tooltip."""
        row = self.rows.get(role)
        if row is not None and row.setup != setup:
            row.setup = setup
            self._draw()
        if reason:
            self.tooltip = reason

    def show(self, stats: LiveStats) -> None:
        for role, row in self.rows.items():
            segment = stats.last_segment.get(role)
            if segment is not None:
                row.tok_s, row.ttft_s = segment.tok_s, segment.ttft_s
        self._draw()

    def _draw(self) -> None:
        lines: list[Content] = []
        for role, row in self.rows.items():
            rate = "-" if row.tok_s is None else f"{row.tok_s:.1f} tok/s"
            ttft = "-" if row.ttft_s is None else f"{row.ttft_s * 1000:.0f} ms"
            lines.append(
                Content.assemble(
                    ("● ", HEALTH_STYLE[row.health]),
                    (f"{role:<5} ", f"bold $relay-{role}"),
                    row.name,
                    (f"  {row.health}", HEALTH_STYLE[row.health]),
                )
            )
            lines.append(Content.assemble(("  ", ""), (f"{rate} · TTFT {ttft}", "$relay-muted")))
            if row.setup:
                lines.append(Content.assemble(("  ", ""), (row.setup, "$relay-muted")))
        self.update(Content("\n").join(lines))
