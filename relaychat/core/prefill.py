"""Warm handoffs: keep the idle server's prefix cache up to date while the other model writes.

A switch costs the receiving server a prefill of every token it has not seen. Feeding it the new
tokens in the background (prompt-only requests, fire-and-forget) means that when control returns its
cache already holds all but the last few tokens, so the switch costs about a cached TTFT.

vLLM caches whole KV blocks only, so a routine feed is cut to the last block boundary it reaches and
skipped when it would complete no new block: a partial block is recomputed by the next request
anyway, and a feed that only recomputes it keeps the idle core busy when the real request arrives.
Text prompts (models with different tokenizers) are tokenized by the idle server first, off its
engine, so their boundaries are known too.

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

_UNSETTLED_TOKENS = 2


class PrefillAhead:
    def __init__(self, backends: Mapping[Role, Backend], max_feed_tokens: int | None = None) -> None:
        """`max_feed_tokens` caps the new tokens of one routine feed (`core.feed_policy`): a server that
        has fallen behind catches up in feeds that a real request waits for only briefly."""
        self._backends = backends
        self.max_feed_tokens = max_feed_tokens
        self._tasks: dict[Role, asyncio.Task[None]] = {}
        self._prompts: dict[Role, str | list[int]] = {}
        self._cached: dict[Role, int] = {}  # the longest block-aligned prompt each server was fed
        self.sent = 0  # prefill requests that went out
        self.skipped = 0  # routine feeds that would have completed no new block
        self.failed = 0
        self.cancelled = 0  # replaced by a more urgent feed, or dropped before the server's own turn

    def busy(self, role: Role) -> bool:
        task = self._tasks.get(role)
        return task is not None and not task.done()

    def feed(
        self,
        role: Role,
        prompt: str | list[int],
        add_special_tokens: bool,
        urgent: bool = False,
        block: int | None = None,
    ) -> bool:
        """Start a feed unless one is already in flight to that server; True when started.

        `urgent` (a cue about to be confirmed) replaces a routine feed still in flight: the new prompt
        extends it, and it is the exact prompt of the coming turn, sent whole. A routine feed with a
        `block` size is cut to a multiple of it, and dropped if that adds no block.
        """
        if self.busy(role):
            if not urgent:
                return False
            self.drop(role)
        if block and isinstance(prompt, list) and not self._new_block(role, len(prompt), block):
            self.skipped += 1
            return False
        self._tasks[role] = asyncio.create_task(self._run(role, prompt, add_special_tokens, block))
        self._prompts[role] = prompt
        return True

    def _new_block(self, role: Role, length: int, block: int) -> int | None:
        """The block-aligned length to feed, if it goes past what `role` was already fed."""
        aligned, cached = length // block * block, self._cached.get(role, 0)
        if self.max_feed_tokens:
            aligned = min(aligned, cached + max(self.max_feed_tokens // block, 1) * block)
        return aligned if aligned > cached else None

    def settle(self, role: Role, prompt: str | list[int]) -> bool:
        """Before `role`'s real request: keep a feed that is a prefix of `prompt`, cancel any other.

        A feed of the same prefix is already being prefilled; its blocks are reused by the real
        request in the server's next step, so dropping it would only throw that work away.
        Returns True when a feed was cancelled.
        """
        fed = self._prompts.get(role)
        if fed is not None and self.busy(role) and prompt[: len(fed)] == fed:
            self._tasks.pop(role)  # left to finish: no longer this turn's business
            self._prompts.pop(role)
            return False
        return self.drop(role)

    def drop(self, role: Role) -> bool:
        """Cancel a feed in flight to `role` (e.g. an early request for its turn is about to go out).

        The early request reads every token the feed would, and the server would batch the two into
        one step that computes those tokens twice. A feed already inside its step finishes that step
        anyway (an abort lands between steps), so its blocks stay cached. True when one was cancelled.
        """
        task = self._tasks.pop(role, None)
        self._prompts.pop(role, None)
        if task is None or task.done():
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

    async def _run(
        self, role: Role, prompt: str | list[int], add_special_tokens: bool, block: int | None
    ) -> None:
        backend = self._backends[role]
        route = prompt if isinstance(prompt, str) else None  # replicas pick the server by the text
        try:
            if block:
                if isinstance(prompt, str):
                    ids = await backend.tokenize(prompt, add_special_tokens=add_special_tokens)
                    # The last tokens of a text that is still growing may merge differently later.
                    ids, add_special_tokens = ids[: max(len(ids) - _UNSETTLED_TOKENS, 0)], False
                else:
                    ids = prompt
                aligned = self._new_block(role, len(ids), block)
                if aligned is None:
                    self.skipped += 1
                    return
                prompt = ids[:aligned]
            self.sent += 1
            await backend.prefill(prompt, add_special_tokens=add_special_tokens, route=route)
            if block:  # only once read: a cancelled feed's blocks may be sent again
                self._cached[role] = len(prompt)
        except BackendError:
            self.failed += 1
