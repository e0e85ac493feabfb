"""One `eval` at a time per run folder: two writers of the same samples.jsonl and traces corrupt both.

The lock is an `flock` on `<out>/.lock`, released by the kernel however the holder ends (even
SIGKILL), so a stale lock never blocks a later run. The file names the holder (pid, command, start
time) so the second run can say who has it.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path

LOCK_FILE = ".lock"


class RunLocked(Exception):
    """Another process holds the folder; the message says which."""


class RunLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(self.path)
            os.close(fd)
            raise RunLocked(
                f"{self.path.parent} is in use by another eval ({holder}); wait for it to finish, "
                "or pass another --out"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(_me()).encode() + b"\n")
        except OSError:
            pass  # a full disk: the lock still holds, only the holder's name is missing
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the kernel drops the flock; the file stays (harmless, rewritten next time)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _me() -> dict[str, object]:
    return {"pid": os.getpid(), "command": " ".join(["relaychat", *sys.argv[1:]])[:300], "since": time.time()}


def _describe(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        since = time.strftime("%H:%M:%S", time.localtime(float(holder["since"])))
        return f"pid {int(holder['pid'])}, since {since}: {holder['command']!s}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its name yet"
