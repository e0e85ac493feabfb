"""Servers behind the chat: health checks, and starting the bundled CPU pair when it is down.

The keeper holds the chat's `Relay` (`relaychat.relay`): the backends, the warm-up memory of the
session and the feed policy measured for these servers. `running_servers` blocks while the servers
boot (minutes on a cold start), so it runs in a thread; the ExitStack keeps what it started alive
until the app exits, then stops only that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack

from relaychat.backends.base import Backend
from relaychat.core.events import Role
from relaychat.core.feed_policy import FeedPolicy
from relaychat.core.profile import PairProfile
from relaychat.inert import inert
from relaychat.relay import Relay, open_relay, server_setups
from relaychat.serving.manager import profile_is_local, running_servers, servers_for
from relaychat.serving.records import SetupRecord
from relaychat.serving.records import read_record as read_server_record
from relaychat.serving.server import Server
from relaychat.serving.watchdog import stop_groups

QUIT_GRACE_S = 5.0  # quitting waits this long for SIGTERM, then kills: quit is meant to take seconds
START_ABORT_S = 20.0  # how long quitting waits for a start-up in progress to notice and give up


class StartAborted(Exception):
    """Raised inside a start-up (from its progress callback) once the user has quit."""


class ServerKeeper:
    def __init__(self, profile: PairProfile, backends: Mapping[Role, Backend], autostart: bool) -> None:
        self.profile = profile
        self.relay: Relay = open_relay(profile, backends=backends)
        self.autostart = autostart
        self._stack = ExitStack()
        self.servers: list[Server] = []  # what `running_servers` gave (started here or reused)
        self.quitting = False
        self.starting = False

    @property
    def backends(self) -> dict[Role, Backend]:
        return self.relay.backends

    @property
    def can_start(self) -> bool:
        return self.autostart and profile_is_local(self.profile)

    async def health(self) -> dict[Role, bool]:
        roles = list(self.backends)
        results = await asyncio.gather(*(self.backends[r].health() for r in roles), return_exceptions=True)
        return {role: result is True for role, result in zip(roles, results, strict=False)}

    async def model_names(self) -> dict[Role, str]:
        names: dict[Role, str] = {}
        for role, backend in self.backends.items():
            try:
                names[role] = inert((await backend.info()).name)  # a server names itself: data
            except Exception:
                continue
        return names

    def setups(self) -> dict[Role, SetupRecord]:
        """The serving setup of each server RelayChat started here (by the backends' own URLs)."""
        return server_setups(self.backends)

    def feed_policy(self) -> FeedPolicy | None:
        """The feed cadence from the servers' measured costs, read again (servers may have started)."""
        return self.relay.refresh_policy()

    def start_blocking(
        self, progress: Callable[[str, float | None], None], log: Callable[[str], None]
    ) -> None:
        """Start the profile's bundled servers and wait until healthy (call from a thread)."""

        def checked_progress(message: str, fraction: float | None) -> None:
            if self.quitting:
                raise StartAborted("quit during start-up")
            progress(message, fraction)

        def checked_log(message: str) -> None:
            if self.quitting:
                raise StartAborted("quit during start-up")
            log(message)

        self.starting = True
        try:
            self.servers += self._stack.enter_context(
                running_servers(self.profile, checked_progress, log=checked_log)
            )
        finally:
            self.starting = False

    def own_pids(self) -> list[int]:
        """Process groups of the servers this process started and that still run, during start-up too.

        Read from the records the manager writes at each launch, so a server still booting inside
        `start_blocking` (whose context is not entered yet) is found as well."""
        pids: list[int] = []
        for server in servers_for(self.profile):
            record = read_server_record(server.port)
            if record is not None and record.owner_pid == os.getpid() and record.alive:
                pids.append(record.pid)
        return pids

    @property
    def owns_servers(self) -> bool:
        """Servers started here still run, or a start-up is under way."""
        return self.starting or bool(self.own_pids())

    async def stop_now(self, grace_s: float = QUIT_GRACE_S) -> None:
        """Stop every server this process started, all at once: SIGTERM, then SIGKILL after `grace_s`.

        Each server got a 30 s grace in turn before (45-70 s of blank screen when quitting during
        start-up); here both get the signal together and the wait is shared."""
        self.quitting = True  # a start-up in progress gives up at its next progress report
        give_up = time.monotonic() + START_ABORT_S
        while True:
            await asyncio.to_thread(stop_groups, self.own_pids(), grace_s)  # both at once, whole groups
            if not self.starting or time.monotonic() > give_up:
                break
            await asyncio.sleep(0.2)  # the start-up may launch its second server before it notices
        await asyncio.to_thread(self._stack.close)  # records forgotten, watchdogs released (all quick now)

    def reap_dead(self) -> list[Role]:
        """Kill what is left of a started server whose API process died (its engine holds GBs)."""
        dead: list[Role] = []
        for server in self.servers:
            process = server.process
            if process is not None and process.poll() is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):  # no wait: the UI loop
                    os.killpg(process.pid, signal.SIGKILL)
                dead.append(server.role)
        return dead

    def stop(self) -> None:
        """Stop the servers started here (none if they were already running)."""
        self._stack.close()

    def stopped_roles(self) -> list[Role]:
        """Roles of servers started here whose process has exited."""
        return [s.role for s in self.servers if s.process is not None and s.process.poll() is not None]

    async def aclose(self) -> None:
        await self.relay.aclose()
