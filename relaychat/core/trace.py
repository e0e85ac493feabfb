"""Traces: every run saved as JSONL (one event per line), replayable later without any server.

Every line is whole, and the file is flushed at every event that is not a token (segment starts and
ends, switches, `failed`, `finished`), every `FLUSH_EVERY_LINES` lines and every `FLUSH_EVERY_S`, and
on close: a failed server leaves a valid trace of everything up to its `failed` event, and even a
killed process a valid one up to its last flush. Tokens in between are written in batches, because a
write per token was a system call per token (the client-only bench's profile).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from relaychat.core.events import RelayEvent, RunStarted, TokenDelta, dump_event, parse_event
from relaychat.paths import traces_dir


class TraceError(ValueError):
    pass


def new_trace_path(run_id: str, folder: Path | None = None) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return (folder or traces_dir()) / f"{stamp}-{run_id}.jsonl"


FLUSH_EVERY_LINES = 64
FLUSH_EVERY_S = 0.25


class TraceWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8")
        self._lines: list[str] = []
        self._flushed = time.monotonic()

    def write(self, event: RelayEvent) -> None:
        lines = self._lines
        lines.append(dump_event(event))
        if (
            not isinstance(event, TokenDelta)
            or len(lines) >= FLUSH_EVERY_LINES
            or time.monotonic() - self._flushed >= FLUSH_EVERY_S
        ):
            self.flush()

    def flush(self) -> None:
        """Write the pending lines in one call and hand them to the OS."""
        if self._lines:
            self._lines.append("")
            self._file.write("\n".join(self._lines))
            self._lines.clear()
            self._file.flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def recorded(
    events: AsyncIterator[RelayEvent], folder: Path | None = None, path: Path | None = None
) -> AsyncIterator[tuple[RelayEvent, Path]]:
    """Pass events through, saving them to a trace named after the run; yields (event, trace path)."""
    writer: TraceWriter | None = None
    try:
        async for event in events:
            if writer is None:
                run_id = event.run_id if isinstance(event, RunStarted) else "run"
                writer = TraceWriter(path or new_trace_path(run_id, folder))
            writer.write(event)
            yield event, writer.path
    finally:
        if writer is not None:
            writer.close()


def load_trace(path: Path | str) -> list[RelayEvent]:
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"no trace at {path}")
    events: list[RelayEvent] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                events.append(parse_event(line))
            except ValidationError as exc:
                raise TraceError(
                    f"{path}:{number} is not a RelayChat event: {exc.errors()[0]['msg']}"
                ) from exc
    if not events:
        raise TraceError(f"{path} is empty")
    return events


async def replay(events: list[RelayEvent], speed: float = 1.0) -> AsyncIterator[RelayEvent]:
    """Yield saved events with their original pacing divided by `speed` (0 or inf: no waiting)."""
    start = time.perf_counter()
    for event in events:
        if speed and speed != float("inf"):
            due = start + event.t / speed
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        yield event
