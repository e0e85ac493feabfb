"""How `run`, `eval`, `calibrate` and `bench` stop on a signal: save what they have, stop every
child, exit 128 + signal.

SIGINT (Ctrl-C), SIGTERM (a service manager, `kill`) and SIGHUP (the terminal closed) all cancel the
work the same way: traces in flight end with a `cancelled` event, child processes (the grader
worker, bench's load generator) and the servers this command started are stopped, and the exit
code says which signal it was (130 / 143 / 129).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # SIGINT arrives as KeyboardInterrupt already


class Stopped(BaseException):
    """A stop signal arrived outside the event loop (while servers start, say): unwind and exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(signum: int) -> int:
    return 128 + signum


class _Target:
    """The task a stop signal cancels while an event loop runs (None: raise `Stopped` instead)."""

    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[object] | None = None
    received: list[int] | None = None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    loop, task = _Target.loop, _Target.task
    if loop is not None and task is not None and not loop.is_closed() and not task.done():
        if _Target.received is not None and not _Target.received:
            _Target.received.append(signum)
        loop.call_soon_threadsafe(task.cancel)  # wakes the loop; the task unwinds and saves
        return
    raise Stopped(signum)


@contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the command: they cancel the task registered with
    `cancel_on_stop_signals` while one runs, else raise `Stopped` (so `with` blocks such as started
    servers unwind). Python-level handlers, so an event loop closing does not reset them."""
    previous = {}
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, _on_signal)
    except ValueError:  # not the main thread: leave signals as they are
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def cancel_on_stop_signals(received: list[int]) -> Iterator[None]:
    """Inside the event loop: a stop signal cancels the current task and lands in `received`."""
    saved = (_Target.loop, _Target.task, _Target.received)
    _Target.loop, _Target.task, _Target.received = (
        asyncio.get_running_loop(),
        asyncio.current_task(),
        received,
    )
    try:
        yield
    finally:
        _Target.loop, _Target.task, _Target.received = saved


async def cancellable(work: Awaitable[T], received: list[int]) -> T:
    """`work` awaited in the current task, which a stop signal cancels (landing in `received`): for
    `asyncio.run(cancellable(...))` around a coroutine that knows nothing of signals."""
    with cancel_on_stop_signals(received):
        return await work
