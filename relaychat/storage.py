"""Where RelayChat writes must be writable before work starts: one clear error, never a traceback.

A data dir that is a file, a `traces` path that is a file, a read-only or full file system, `--trace`
pointing at a folder: each is found here, before any server is contacted, and named in one sentence.
A full disk later on (mid-run) is handled where the writing happens (`core.trace.TraceWriter`).
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

PROBE_BYTES = 4096  # a full file system refuses even this; an empty file could still be created


class StorageError(Exception):
    """A place RelayChat must write to cannot be written; the message names it and why."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EROFS,):
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    return exc.strerror or str(exc)


def describe(exc: OSError) -> str:
    """One phrase for a write failure: 'the disk is full', 'permission denied'..."""
    return _reason(exc)


def _first_non_directory(path: Path) -> Path | None:
    """The first component of `path` that exists but is not a folder (a file where a folder must be)."""
    current = Path(path.anchor) if path.is_absolute() else Path(".")
    for part in path.parts[1:] if path.is_absolute() else path.parts:
        current = current / part
        if current.exists() and not current.is_dir():
            return current
        if not current.exists():
            return None
    return None


def writable_dir(path: Path, what: str) -> Path:
    """Create `path` if needed and prove a few KB can be written there; StorageError otherwise."""
    blocker = _first_non_directory(path)
    if blocker is not None:
        raise StorageError(f"cannot save {what} in {path}: {blocker} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {path} for {what}: {_reason(exc)}") from None
    probe = path / f".relaychat-write-test-{uuid.uuid4().hex[:8]}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            written = os.write(fd, b"\0" * PROBE_BYTES)
            if written < PROBE_BYTES:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StorageError(f"cannot save {what} in {path}: {_reason(exc)}") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    return path


def writable_file(path: Path, what: str) -> Path:
    """`path` may be created or replaced as a file: not a folder, its folder writable."""
    if path.is_dir():
        raise StorageError(f"{path} is a folder: give a file name for {what} (e.g. {path / 'run.jsonl'})")
    writable_dir(path.parent if str(path.parent) else Path("."), what)
    if path.exists() and not os.access(path, os.W_OK):
        raise StorageError(f"cannot save {what} to {path}: permission denied")
    return path
