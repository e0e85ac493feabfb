"""Servers behind the chat: health checks, and starting the bundled CPU pair when it is down.

`running_servers` blocks while the servers boot (minutes on a cold start), so it runs in a thread;
the ExitStack keeps what it started alive until the app exits, then stops only that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import ExitStack

from relaychat.backends.base import Backend
from relaychat.backends.scripted import ScriptedBackend
from relaychat.core.events import Role
from relaychat.core.feed_policy import FeedPolicy
from relaychat.core.profile import PairProfile
from relaychat.inert import inert
from relaychat.serving.manager import profile_is_local, running_servers
from relaychat.serving.setup_plan import feed_tuning
from relaychat.serving.setup_record import SetupRecord, read_record


class ServerKeeper:
    def __init__(self, profile: PairProfile, backends: Mapping[Role, Backend], autostart: bool) -> None:
        self.profile = profile
        self.backends = dict(backends)
        self.autostart = autostart
        self._stack = ExitStack()

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
        """The serving setup of each local server RelayChat started (scripted test backends have none)."""
        if not profile_is_local(self.profile):
            return {}
        found: dict[Role, SetupRecord] = {}
        for role, backend in self.backends.items():
            record = (
                None if isinstance(backend, ScriptedBackend) else read_record(self.profile.spec(role).url)
            )
            if record is not None:
                found[role] = record
        return found

    def feed_policy(self) -> FeedPolicy | None:
        """The feed cadence from the servers' measured costs, when both are known."""
        if len(self.setups()) < len(self.backends):
            return None
        return feed_tuning(self.profile)

    def start_blocking(
        self, progress: Callable[[str, float | None], None], log: Callable[[str], None]
    ) -> None:
        """Start the profile's bundled servers and wait until healthy (call from a thread)."""
        self._stack.enter_context(running_servers(self.profile, progress, log=log))

    def stop(self) -> None:
        """Stop the servers started here (none if they were already running)."""
        self._stack.close()

    async def aclose(self) -> None:
        for backend in self.backends.values():
            await backend.aclose()
