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

import os
import signal
import subprocess
import sys
import time

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
    "pid_alive",
    "read_record",
    "record_path",
    "records_dir",
    "stop_group",
    "watch",
    "write_record",
]

GRACE_S = 30.0  # a vLLM server gets this long to stop on SIGTERM before SIGKILL


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


def stop_group(pgid: int, grace_s: float = GRACE_S) -> None:
    """SIGTERM the group, then SIGKILL what is left after `grace_s`."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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
