"""The client-only bench's table: µs of client CPU per token, tokens/s and event-loop lag per level."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from relaychat.bench.client_only import ClientLevel


def client_table(levels: Sequence[ClientLevel], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in (
        "K",
        "runs",
        "failed",
        "tokens",
        "client µs/tok",
        "of which idle loop",
        "tok/s",
        "client core share",
        "loop lag p50 / p99 / max ms",
        "load-gen µs/tok",
    ):
        table.add_column(name, justify="right")
    for level in levels:
        server = (
            f"{level.server_cpu_s / level.tokens * 1e6:.0f}"
            if level.server_cpu_s is not None and level.tokens
            else "-"
        )
        table.add_row(
            str(level.concurrency),
            str(level.runs),
            str(level.failed),
            str(level.tokens),
            f"{level.us_per_token:.0f}",
            f"{level.idle_us_per_token:.0f}",
            f"{level.tokens_per_s:.0f}",
            f"{level.core_share:.2f}",
            f"{level.lag_p50_ms:.1f} / {level.lag_p99_ms:.1f} / {level.lag_max_ms:.1f}",
            server,
        )
    return table
