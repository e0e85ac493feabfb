"""Quitting stops the servers this app started, both at once, and says so on the screen meanwhile."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relaychat.core.profile import load_profile
from relaychat.serving import watchdog
from relaychat.serving.manager import servers_for
from relaychat.serving.watchdog import ServerRecord, pid_alive, write_record
from relaychat.ui.servers import ServerKeeper
from tests.ui.conftest import SIZE, Scripted, make_app

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"


def stubborn_server() -> subprocess.Popen[bytes]:
    """A process that ignores SIGTERM, in its own session, like a vLLM server busy starting up."""
    return subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)


async def test_stop_now_kills_both_started_servers_together_even_if_they_ignore_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchdog, "records_dir", lambda: tmp_path)
    profile = load_profile("cpu-demo")
    processes = [stubborn_server() for _ in servers_for(profile)]
    try:
        time.sleep(0.3)  # let them install the SIGTERM handler
        for server, process in zip(servers_for(profile), processes, strict=True):
            write_record(
                ServerRecord(
                    port=server.port,
                    pid=process.pid,
                    owner_pid=os.getpid(),
                    role=server.role,
                    name=server.name,
                    url=server.url,
                    started_at=time.time(),
                )
            )
        keeper = ServerKeeper(profile, Scripted()(profile), autostart=True)
        assert sorted(keeper.own_pids()) == sorted(p.pid for p in processes)
        # One shared grace for both (not one each in turn), then SIGKILL: quitting takes seconds.
        await asyncio.wait_for(keeper.stop_now(grace_s=0.5), timeout=120)  # a hang guard only
        for process in processes:
            process.wait(timeout=5)
            assert not pid_alive(process.pid)
        assert not keeper.owns_servers
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


async def test_a_server_another_process_started_is_not_ours_to_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchdog, "records_dir", lambda: tmp_path)
    profile = load_profile("cpu-demo")
    server = servers_for(profile)[0]
    write_record(
        ServerRecord(
            server.port, os.getpid(), os.getppid(), server.role, server.name, server.url, time.time()
        )
    )
    assert ServerKeeper(profile, Scripted()(profile), autostart=True).own_pids() == []


async def test_quit_says_what_it_is_doing_while_it_stops_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    release = asyncio.Event()

    async def stop_now(self: ServerKeeper, grace_s: float = 5.0) -> None:
        await release.wait()

    monkeypatch.setattr(ServerKeeper, "owns_servers", property(lambda self: True))
    monkeypatch.setattr(ServerKeeper, "stop_now", stop_now)
    app = make_app(Scripted())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        banner = app.chat.banner
        seen.append(banner.text)
        assert banner.display and "stopping the servers RelayChat started" in banner.text
        assert app.is_running  # the screen stays up (not blank) while the servers stop
        release.set()
        for _ in range(100):
            if not app.is_running:
                break
            await pilot.pause(0.02)
        assert not app.is_running
    assert app.farewell == "RelayChat: the servers it started are stopped."


async def test_quitting_during_start_up_makes_the_start_give_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A start-up still polling health notices the quit at its next progress report and stops."""
    from contextlib import contextmanager

    import relaychat.ui.servers as servers_module

    reports: list[str] = []

    @contextmanager
    def booting(profile, progress, log=print):  # type: ignore[no-untyped-def]
        while True:  # like wait_healthy: report progress every so often until healthy
            progress("starting (cold start)", 0.1)
            reports.append("progress")
            time.sleep(0.05)
        yield []

    monkeypatch.setattr(servers_module, "running_servers", booting)
    profile = load_profile("cpu-demo")
    keeper = ServerKeeper(profile, Scripted()(profile), autostart=True)
    start = asyncio.create_task(asyncio.to_thread(keeper.start_blocking, lambda m, f: None, lambda m: None))
    while not reports:
        await asyncio.sleep(0.02)
    assert keeper.owns_servers  # a start-up under way counts: quitting must wait for it
    await asyncio.wait_for(keeper.stop_now(grace_s=0.1), timeout=120)  # a hang guard only
    with pytest.raises(servers_module.StartAborted):
        await start
    assert not keeper.starting
