"""Row 8: servers RelayChat starts stop when it ends for any reason, and later commands know about them.

The real `serving.manager` starts fake servers (`tests/fakes/app_with_servers.py`), on free ports and
with a throw-away cache dir, so no vLLM server is started or touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import ROOT, cli_env, relaychat


def pid_alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent counts as gone)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _profile(folder: Path, large: int, small: int) -> Path:
    spec = 'bundled = "smollm2-135m-instruct"\nprompt = { template = "plain" }\n'
    path = folder / "local-fake.toml"
    path.write_text(
        f'cues = []\n[large]\nurls = ["http://127.0.0.1:{large}"]\nport = {large}\n{spec}'
        f'[small]\nurls = ["http://127.0.0.1:{small}"]\nport = {small}\n{spec}'
    )
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(RELAYCHAT_CACHE=str(tmp_path / "cache"))  # server records and logs stay in the test


def _start_app(profile: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], list[int], str]:
    """The app, the pids of the servers it started, and what it printed until they were ready."""
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.app_with_servers", str(profile)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,  # like a terminal session of its own, which the test then closes
    )
    assert app.stdout is not None
    deadline = time.monotonic() + 60
    line, log = "", ""
    while time.monotonic() < deadline and not line.startswith("ready"):
        line = app.stdout.readline()
        log += line
        if not line and app.poll() is not None:
            pytest.fail(f"the app ended early: {app.stderr.read() if app.stderr else ''}")
    return app, [int(p) for p in line.split()[1:]], log


def _gone(pids: list[int], within_s: float = 20.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.2)
    for pid in pids:  # clean up whatever the code under test left behind
        if pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
    return False


@pytest.mark.parametrize("how", [signal.SIGHUP, signal.SIGKILL, signal.SIGTERM])
def test_servers_stop_when_the_app_that_started_them_dies(
    tmp_path: Path, env: dict[str, str], how: signal.Signals
) -> None:
    app, servers, _ = _start_app(_profile(tmp_path, _free_port(), _free_port()), env)
    assert len(servers) == 2 and all(pid_alive(p) for p in servers)
    os.killpg(app.pid, how)  # a closed terminal sends SIGHUP to the whole session's group
    app.wait(timeout=30)
    assert _gone(servers), f"servers {servers} outlived the app ({how.name})"


def test_status_and_the_next_start_name_servers_an_exited_process_started(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from relaychat.serving.watchdog import ServerRecord, write_record

    large, small = _free_port(), _free_port()
    profile = _profile(tmp_path, large, small)
    # An orphan, as older RelayChat versions left them: alive, its starter gone, no watchdog.
    orphan = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fault_server", "--port", str(large)],
        stdout=subprocess.PIPE, env=env, cwd=ROOT, start_new_session=True, text=True,
    )  # fmt: skip
    assert orphan.stdout is not None and orphan.stdout.readline().startswith("fault server")
    starter = subprocess.Popen([sys.executable, "-c", "pass"])
    starter.wait()
    os.environ["RELAYCHAT_CACHE"] = env["RELAYCHAT_CACHE"]
    try:
        write_record(
            ServerRecord(large, orphan.pid, starter.pid, "large", "fake", f"http://127.0.0.1:{large}", 0.0)
        )
        status = relaychat("serve", "--status", "--profile", str(profile), env=env)
        assert status.returncode == 0, status.stderr
        flat = " ".join(status.stdout.split())
        assert f"pid {starter.pid} (exited: orphaned)" in flat and "outlived" in flat
        app, servers, log = _start_app(profile, env)
        assert len(servers) == 1  # only the small one was started; the orphan is reused, and said so
        assert f"reusing the large server on port {large} (pid {orphan.pid})" in log
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)
        assert _gone(servers)
    finally:
        orphan.kill()
        orphan.wait()
        os.environ.pop("RELAYCHAT_CACHE", None)
