"""Warm handoffs: keep the idle server's prefix cache up to date while the other model writes.

A switch costs the receiving server a prefill of every token it has not seen. Feeding it the new
tokens in the background (prompt-only requests, fire-and-forget) means that when control returns its
cache already holds all but the last few tokens, so the switch costs about a cached TTFT.

Rules that keep it from ever slowing the relay down:
- at most one feed in flight per server; a newer feed waits for the next chance instead of queueing;
- a feed still running when its server's real turn begins is cancelled (the real request reads the
  same tokens anyway, and an abort keeps the blocks already computed);
- nothing awaits a feed on the hot path; failures are counted, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from relaychat.backends.base import Backend
from relaychat.backends.errors import BackendError
from relaychat.core.events import Role


class PrefillAhead:
    def __init__(self, backends: Mapping[Role, Backend]) -> None:
        self._backends = backends
        self._tasks: dict[Role, asyncio.Task[None]] = {}
        self._prompts: dict[Role, str | list[int]] = {}
        self.sent = 0
        self.failed = 0
        self.cancelled = 0  # replaced by a more urgent feed, or dropped before the server's own turn

    def busy(self, role: Role) -> bool:
        task = self._tasks.get(role)
        return task is not None and not task.done()

    def feed(self, role: Role, prompt: str | list[int], add_special_tokens: bool, urgent: bool = False) -> bool:
        """Start a feed unless one is already in flight to that server; True when started.

        `urgent` (a cue about to be confirmed) replaces a routine feed still in flight: the new prompt
        extends it, and it is the exact prompt of the coming turn.
        """
        if self.busy(role):
            if not urgent:
                return False
            self._tasks[role].cancel()
            self.cancelled += 1
        self._tasks[role] = asyncio.create_task(self._run(role, prompt, add_special_tokens))
        self._prompts[role] = prompt
        self.sent += 1
        return True

    def settle(self, role: Role, prompt: str | list[int]) -> bool:
        """Before `role`'s real request: keep a feed that is a prefix of `prompt`, cancel any other.

        A feed of the same prefix is already being prefilled; its blocks are reused by the real
        request in the server's next step, so dropping it would only throw that work away.
        Returns True when a feed was cancelled.
        """
        task = self._tasks.pop(role, None)
        fed = self._prompts.pop(role, None)
        if task is None or task.done():
            return False
        if fed is not None and prompt[: len(fed)] == fed:
            return False
        task.cancel()
        self.cancelled += 1
        return True

    async def aclose(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _run(self, role: Role, prompt: str | list[int], add_special_tokens: bool) -> None:
        try:
            await self._backends[role].prefill(prompt, add_special_tokens=add_special_tokens)
        except BackendError:
            self.failed += 1
