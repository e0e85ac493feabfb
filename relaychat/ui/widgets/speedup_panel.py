"""Estimated speedup over large-only: this generation's tokens at the large model's decode rate vs wall time.

It is an estimate while running and after (the large-only run never happened), and it means nothing when
only one model writes: then the panel says so instead of showing a number.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from relaychat.projection.costmodel import CostModel
from relaychat.ui.live_stats import LiveStats
from relaychat.ui.widgets.projected_line import projected_line


class SpeedupPanel(Static):
    target: CostModel | None = None  # a GPU pair's cost model: adds the "projected on" line

    def __init__(self, **kwargs: object) -> None:
        super().__init__(Content.styled("no generation yet", "$relay-muted"), **kwargs)  # type: ignore[arg-type]
        self.border_title = "speedup vs large only"

    def show(self, stats: LiveStats) -> None:
        est = stats.speedup()
        done = stats.final is not None
        mode = stats.mode
        if mode in ("large", "small"):
            self.border_title, self.border_subtitle = "speedup vs large only", ""
            self.update(
                Content.styled(
                    f"{mode}-only mode: one model writes everything, no relay to compare "
                    "(F2 switches to relay mode)",
                    "$relay-muted",
                )
            )
            return
        self.border_title = "speedup vs large only"
        self.border_subtitle = "estimate" if done else "estimate · live"
        speed = "-" if est.speedup is None else f"{est.speedup:.2f}×"
        bound = "-" if est.bound is None else f"{est.bound:.2f}×"
        share = "-" if est.large_share is None else f"{est.large_share * 100:.1f} %"
        rate = "-" if est.large_tok_s is None else f"{est.large_tok_s:.1f} tok/s"
        large_only = "-" if est.large_only_s is None else f"{est.large_only_s:.1f} s"
        projected = projected_line(stats.shape, self.target)
        self.update(
            Content.assemble(
                ("speedup ", "$relay-muted"),
                (speed, "bold $accent"),
                ("  at most ", "$relay-muted"),
                bound,
                "\n",
                ("large share ", "$relay-muted"),
                (share, "$relay-large"),
                ("  switches ", "$relay-muted"),
                str(est.switches),
                "\n",
                ("wall ", "$relay-muted"),
                f"{est.wall_s:.1f} s",
                ("  large-only ", "$relay-muted"),
                large_only,
                "\n",
                ("large decode ", "$relay-muted"),
                rate,
                (
                    ""
                    if done or stats.decode_tok_s("large")
                    else "  (from an earlier run)"
                    if est.large_tok_s
                    else "",
                    "$relay-muted",
                ),
                ("\nat most = 1 ÷ large share", "$relay-muted"),
                *(("\n", projected) if projected is not None else ()),
            )
        )
