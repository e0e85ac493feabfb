"""Traces: every run saved as JSONL (one event per line), replayable later without any server.

Every line is whole, and the file is flushed at every event that is not a token (segment starts and
ends, switches, `failed`, `finished`), every `FLUSH_EVERY_LINES` lines and every `FLUSH_EVERY_S`, and
on close: a failed server leaves a valid trace of everything up to its `failed` event, and even a
killed process a valid one up to its last flush. Tokens in between are written in batches, because a
write per token was a system call per token (the client-only bench's profile).
`Pacer` is the one replay clock: the CLI plays at a fixed speed, the chat app changes it while it plays.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from relaychat.core.events import (
    ErrorInfo,
    RelayEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    TokenDelta,
    dump_event,
    parse_event,
)
from relaychat.core.summary import SummaryBuilder
from relaychat.paths import traces_dir


class TraceError(ValueError):
    pass


def new_trace_path(run_id: str, folder: Path | None = None) -> Path:
    """A fresh name: runs that fail before `run_started` (no run id yet) get a random one, so several
    such failures in the same second no longer overwrite one file."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = run_id if run_id != "run" else f"failed-{uuid.uuid4().hex[:12]}"
    return (folder or traces_dir()) / f"{stamp}-{name}.jsonl"


FLUSH_EVERY_LINES = 64
FLUSH_EVERY_S = 0.25


class TraceWriter:
    """Appends whole lines only. A write that fails (full disk, I/O error) is undone back to the last
    whole line, the writer stops, and `error` says why; the run itself goes on (its output is not lost
    to a full disk), and the front end warns that the trace stops there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._lines: list[str] = []
        self._flushed = time.monotonic()
        self._good = 0  # bytes of whole lines on disk
        self.events_saved = 0
        self._pending_events = 0
        self.error: OSError | None = None

    def write(self, event: RelayEvent) -> None:
        if self.error is not None:
            return
        lines = self._lines
        lines.append(dump_event(event))
        self._pending_events += 1
        if (
            not isinstance(event, TokenDelta)
            or len(lines) >= FLUSH_EVERY_LINES
            or time.monotonic() - self._flushed >= FLUSH_EVERY_S
        ):
            self.flush()

    def flush(self) -> None:
        """Write the pending lines in one call and hand them to the OS."""
        if self._lines and self.error is None and self._fd >= 0:
            self._lines.append("")
            data = "\n".join(self._lines).encode("utf-8")
            self._lines.clear()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                self._fail(exc)
            else:
                self._good += len(data)
                self.events_saved += self._pending_events
            self._pending_events = 0
        self._flushed = time.monotonic()

    def _fail(self, exc: OSError) -> None:
        """Cut the file back to its last whole line (needs no free space) and stop writing."""
        self.error = exc
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._good)

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


CANCELLED_MESSAGE = "stopped before the end (Ctrl-C, SIGTERM or Esc); the output so far is kept"


async def recorded(
    events: AsyncIterator[RelayEvent],
    folder: Path | None = None,
    path: Path | None = None,
    where: list[Path] | None = None,
    on_write_error: Callable[[Path, OSError, int], None] | None = None,
) -> AsyncGenerator[tuple[RelayEvent, Path], None]:
    """Pass events through, saving them to a trace named after the run; yields (event, trace path).

    A run stopped from outside (task cancelled, consumer closed early, Ctrl-C) still ends its trace
    with a `failed` event of kind `cancelled` holding the partial output. `where` receives the trace's
    path as soon as it exists, for callers that are interrupted before they see an event.
    When the trace cannot be written any more (a full disk), `on_write_error(path, error, events
    saved)` is called once; the events keep flowing, so the answer still reaches the user.
    """
    writer: TraceWriter | None = None
    builder = SummaryBuilder()
    ended = False
    reported = False
    last_t = 0.0

    def open_writer(run_id: str) -> TraceWriter:
        opened = TraceWriter(path or new_trace_path(run_id, folder))
        if where is not None:
            where.append(opened.path)
        return opened

    try:
        async for event in events:
            if writer is None:
                writer = open_writer(event.run_id if isinstance(event, RunStarted) else "run")
            writer.write(event)
            if writer.error is not None and not reported:
                reported = True
                if on_write_error is not None:
                    on_write_error(writer.path, writer.error, writer.events_saved)
            builder.add(event)
            last_t = event.t
            ended = isinstance(event, (RunFinished, RunFailed))
            yield event, writer.path
    except (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt):
        if not ended:
            writer = writer or open_writer("run")
            error = ErrorInfo(kind="cancelled", message=CANCELLED_MESSAGE)
            writer.write(RunFailed(t=last_t, error=error, summary=builder.result()))
        raise
    finally:
        if writer is not None:
            writer.close()
            if writer.error is not None and not reported and on_write_error is not None:
                on_write_error(writer.path, writer.error, writer.events_saved)


@dataclass
class LoadedTrace:
    events: list[RelayEvent]
    cut: str | None = None  # why the file stops early (its last line is cut short, or no final event)

    @property
    def failed(self) -> RunFailed | None:
        last = self.events[-1] if self.events else None
        return last if isinstance(last, RunFailed) else None


def read_trace(path: Path | str) -> LoadedTrace:
    """The events of a trace; a last line cut short (a kill or a full disk mid-write) is left out and
    reported in `cut`, as is a trace with no final event. A bad line elsewhere is a TraceError."""
    path = Path(path)
    if not path.is_file():
        raise TraceError(f"no trace at {path}")
    events: list[RelayEvent] = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read {path}: {exc.strerror}") from exc
    lines = [(n, line) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    cut: str | None = None
    for index, (number, line) in enumerate(lines):
        # Cut short: the file's last line, an event's start, with no newline after it (a kill or a full
        # disk mid-write). Anything else that does not parse is refused with its line.
        last = index == len(lines) - 1 and not raw.endswith(b"\n") and line.startswith(b"{")
        try:
            events.append(parse_event(line.decode("utf-8")))
        except UnicodeDecodeError as exc:
            if last and events:
                cut = f"line {number} is cut short"
                break
            raise TraceError(
                f"{path}:{number} is not UTF-8 text ({exc.reason}): not a RelayChat trace"
            ) from exc
        except ValidationError as exc:
            if last and events:
                cut = f"line {number} is cut short"
                break
            raise TraceError(f"{path}:{number} is not a RelayChat event: {exc.errors()[0]['msg']}") from exc
    if not events:
        raise TraceError(f"{path} is empty")
    if not isinstance(events[-1], (RunFinished, RunFailed)):
        cut = (
            cut + ", and " if cut else ""
        ) + "the run has no final event (it was killed or the disk filled)"
    return LoadedTrace(events, cut)


def load_trace(path: Path | str) -> list[RelayEvent]:
    """The valid events of a trace (see `read_trace`, which also says whether it was cut)."""
    return read_trace(path).events


class Pacer:
    """Plays saved events on a virtual clock that runs `speed` times faster than the wall clock.

    `speed` may change while it plays (the chat app's +/- keys): naps are short, so a change takes
    effect at once. At an infinite speed nothing waits, but the loop still gets a turn between events.
    """

    def __init__(
        self,
        speed: float = 1.0,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.speed = speed
        self._clock, self._sleep = clock, sleep  # injectable, so tests need no wall clock

    async def play(self, events: Sequence[RelayEvent]) -> AsyncIterator[RelayEvent]:
        virtual = 0.0
        last = self._clock()
        for event in events:
            while True:
                now = self._clock()
                virtual += (now - last) * self.speed if math.isfinite(self.speed) else math.inf
                last = now
                if virtual >= event.t:
                    break
                await self._sleep(min((event.t - virtual) / self.speed, 0.05))
            # After a stretch at infinite speed, a slower speed resumes from this event's time.
            virtual = min(virtual, event.t) if not math.isfinite(virtual) else virtual
            yield event
            await self._sleep(0)  # even at full speed, let a front end draw between events


def replay(events: list[RelayEvent], speed: float = 1.0) -> AsyncIterator[RelayEvent]:
    """Yield saved events with their original pacing divided by `speed` (0 or inf: no waiting)."""
    return Pacer(speed if speed else math.inf).play(events)
