"""Scale-out: one role served by several identical servers (replicas), one replica per session.

Prefix caching only pays off when every segment of a generation (and every turn of a chat) goes to
the server that already holds its prefix, so requests are not balanced one by one:
- used as a plain `Backend`, a stream whose prompt extends a prompt a replica served recently goes to
  that replica (every continuation prompt of a relay generation is a byte-exact extension of its
  first), and a new prompt goes to the least busy replica;
- `session()` pins one replica explicitly for a block (the fewest open sessions, or a stable one for
  a key such as a chat id: rendezvous hashing, so adding a replica moves few sessions).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

from relaychat.backends.base import (
    Backend,
    CompletionRequest,
    ModelInfo,
    PromptScores,
    StreamChunk,
    StreamEnd,
)

RoleT = TypeVar("RoleT", bound=str)  # a role name; the core's `Role` literal, kept out of backends/


class ReplicaBackend:
    """Several servers of one model behind the `Backend` protocol, with sticky sessions."""

    def __init__(self, replicas: Sequence[Backend]) -> None:
        if not replicas:
            raise ValueError("a replica set needs at least one backend")
        self.replicas = list(replicas)
        self.url = self.replicas[0].url
        self.open_sessions = [0] * len(self.replicas)  # pinned sessions plus unpinned streams in flight
        self._turn = itertools.count()
        self._recent: OrderedDict[int, tuple[str | tuple[int, ...], int]] = OrderedDict()  # prompt -> replica
        self._ids = itertools.count()

    AFFINITY_MEMORY = 512  # recent prompts remembered for routing continuations

    def __repr__(self) -> str:
        return f"ReplicaBackend({[r.url for r in self.replicas]!r})"

    def choose(self, key: str | None = None) -> int:
        """Index of the replica for a session: stable for a key, else the least busy (ties rotate)."""
        if key is not None:
            return max(range(len(self.replicas)), key=lambda i: _score(key, self.replicas[i].url))
        fewest = min(self.open_sessions)
        idle = [i for i, n in enumerate(self.open_sessions) if n == fewest]
        return idle[next(self._turn) % len(idle)]

    @asynccontextmanager
    async def session(self, key: str | None = None) -> AsyncIterator[Backend]:
        """Pin one replica for the duration of the block; it counts as busy until the block ends."""
        index = self.choose(key)
        self.open_sessions[index] += 1
        try:
            yield self.replicas[index]
        finally:
            self.open_sessions[index] -= 1

    # -- Backend protocol (one-off calls go to the least busy replica) --------------------------

    async def info(self) -> ModelInfo:
        return await self.replicas[0].info()

    def _route(self, prompt: str | list[int]) -> int:
        """The replica that served a prefix of this prompt (and remember it), else the least busy."""
        key = prompt if isinstance(prompt, str) else tuple(prompt)
        # The ancestor is kept: an early start may send a prompt the generation then does not take (a
        # cut after "Now," that came after "Now"), and its real continuation must still find the way.
        for seen, index in reversed(self._recent.values()):  # noqa: B007 (read after the break)
            if _extends(key, seen):
                break
        else:
            index = self.choose()
        self._recent[next(self._ids)] = (key, index)
        while len(self._recent) > self.AFFINITY_MEMORY:
            self._recent.popitem(last=False)
        return index

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk | StreamEnd, None]:
        index = self._route(request.prompt)
        self.open_sessions[index] += 1
        try:
            async for item in self.replicas[index].stream(request):
                yield item
        finally:
            self.open_sessions[index] -= 1

    async def prefill(
        self, prompt: str | list[int], add_special_tokens: bool = True, route: str | None = None
    ) -> None:
        """Warm the replica that will serve this prompt's continuation (same affinity as `stream`)."""
        index = self._route(route if route is not None else prompt)
        self.open_sessions[index] += 1
        try:
            await self.replicas[index].prefill(prompt, add_special_tokens)
        finally:
            self.open_sessions[index] -= 1

    async def score(self, prompt: str | list[int], top_k: int = 20) -> PromptScores:
        async with self.session() as replica:
            return await replica.score(prompt, top_k)

    async def accepts_stops(self, stops: list[str]) -> bool:
        """Server-side stops only when every replica takes them (a session may land on any)."""
        return all([await replica.accepts_stops(stops) for replica in self.replicas])

    async def tokenize(self, text: str, add_special_tokens: bool = False) -> list[int]:
        # Any replica tokenizes alike, off its engine: not a session, so routing never counts it as load.
        return await self.replicas[self.choose()].tokenize(text, add_special_tokens)

    async def health(self) -> bool:
        return all([await r.health() for r in self.replicas])

    async def metrics(self) -> dict[str, float]:
        """Counters summed over the replicas that expose them."""
        totals: dict[str, float] = {}
        for replica in self.replicas:
            read = getattr(replica, "metrics", None)
            if read is None:
                continue
            for name, value in (await read()).items():
                totals[name] = totals.get(name, 0.0) + value
        return totals

    async def aclose(self) -> None:
        for replica in self.replicas:
            await replica.aclose()


def _extends(prompt: str | tuple[int, ...], seen: str | tuple[int, ...]) -> bool:
    if isinstance(prompt, str):
        return isinstance(seen, str) and prompt.startswith(seen)
    return isinstance(seen, tuple) and len(seen) <= len(prompt) and prompt[: len(seen)] == seen


def _score(key: str, url: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{key}|{url}".encode(), digest_size=8).digest(), "big")


@asynccontextmanager
async def pinned(
    backends: Mapping[RoleT, Backend], key: str | None = None
) -> AsyncIterator[dict[RoleT, Backend]]:
    """The backends of one session: each replicated role pinned to one replica for the block."""
    async with AsyncExitStack() as stack:
        chosen: dict[RoleT, Backend] = {}
        for role, backend in backends.items():
            if isinstance(backend, ReplicaBackend):
                chosen[role] = await stack.enter_async_context(backend.session(key))
            else:
                chosen[role] = backend
        yield chosen
