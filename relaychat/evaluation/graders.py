"""Where grading runs: in a worker process for live runs, inline for tests and re-grading.

Grading inside the event loop would block the streams of every sample in flight and skew their
latencies, and math-verify's timeouts need a main thread. A one-process pool gives both: the
worker's main thread runs math-verify with its own timeouts, and an outer deadline covers the rest.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Protocol

from relaychat.evaluation.datasets import Problem
from relaychat.evaluation.grading import Grade, grade


class GradingFailed(RuntimeError):
    pass


class Grader(Protocol):
    async def grade(self, problem: Problem, answer: str, reasoning: str) -> Grade: ...

    def close(self) -> None: ...


class InlineGrader:
    """Grades on the calling thread (fast, deterministic): unit tests and report-only runs."""

    async def grade(self, problem: Problem, answer: str, reasoning: str) -> Grade:
        return grade(problem, answer, reasoning)

    def close(self) -> None:
        return None


class ProcessGrader:
    """Grades in one spawned worker process, with a deadline; a stuck worker is replaced."""

    def __init__(self, deadline_s: float = 60.0) -> None:
        self.deadline_s = deadline_s
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_interrupts
            )
            # The worker is spawned inside submit(). A Ctrl-C while it boots (importing math-verify
            # takes seconds) reached it before its initializer ran and printed its traceback: spawned
            # with SIGINT ignored, it inherits that through exec and never sees the terminal's Ctrl-C.
            with _interrupts_ignored():
                self._pool.submit(int)
        return self._pool

    async def grade(self, problem: Problem, answer: str, reasoning: str) -> Grade:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor(), grade, problem, answer, reasoning)
        try:
            return await asyncio.wait_for(future, self.deadline_s)
        except TimeoutError:
            self._restart()
            raise GradingFailed(f"grading took longer than {self.deadline_s:.0f} s") from None
        except Exception as exc:
            self._restart()
            raise GradingFailed(f"grader failed: {exc}") from exc

    def _restart(self) -> None:
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()  # our own worker only
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def terminate(self) -> None:
        """Stop the worker now (a stop signal): no waiting for a grade in progress."""
        self._restart()

    def close(self) -> None:
        if self._pool is None:
            return
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        except KeyboardInterrupt:
            # A second Ctrl-C while the worker still boots: stop it now, or it dies noisily once we are gone.
            self._restart()
            raise
        self._pool = None


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """SIGINT ignored for the moment a child process is spawned (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ignore_interrupts() -> None:
    """Ctrl-C is the parent's to handle: it saves what finished and shuts the worker down.

    If the parent dies without shutting the worker down (SIGKILL), the kernel kills the worker too
    (Linux parent-death signal); its resource tracker then sees its last user gone and exits.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)
