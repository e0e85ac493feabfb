"""Early starts: send the next model its request one decode step before a switch is confirmed.

A cue ("... So") or a sentence end ("... is 4.") is only confirmed by the character after it, so the
relay knows one decode step ahead that a switch is likely. Sending the receiving model its exact next
request at that moment overlaps its time to first token with that confirming step, the step whose
token is dropped anyway. If the cut lands where expected, the next segment adopts the running stream
(same prompt, same seed, same limits: the output is what a late start would have produced); if not
("So" became "Some"), the request is cancelled at once, and its prefill has still warmed the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import cast

from relaychat.backends.base import Backend, CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.errors import BackendError
from relaychat.core.events import Role

Item = StreamChunk | StreamEnd
Timed = tuple[float, Item]  # arrival time on the run's clock, item


def closable(stream: AsyncIterator[Item]) -> AsyncGenerator[Item, None]:
    """A backend's stream as what it is, an async generator: closing it aborts the request."""
    return cast(AsyncGenerator[Item, None], stream)


async def timed(stream: AsyncIterator[Item], clock: Callable[[], float]) -> AsyncGenerator[Timed, None]:
    """A backend stream with each item's arrival time, the shape an early start delivers too."""
    async with aclosing(closable(stream)) as items:
        async for item in items:
            yield clock(), item


class EarlyStart:
    """One request sent ahead of its turn; its items are buffered until the turn adopts them."""

    def __init__(
        self, role: Role, backend: Backend, request: CompletionRequest, clock: Callable[[], float]
    ) -> None:
        self.role = role
        self.request = request
        self.sent_t = clock()
        self.received_tokens = 0
        self._clock = clock
        self._queue: asyncio.Queue[Timed | BaseException | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump(backend))

    async def _pump(self, backend: Backend) -> None:
        try:
            async with aclosing(closable(backend.stream(self.request))) as stream:
                async for item in stream:
                    if isinstance(item, StreamChunk):
                        self.received_tokens += len(item.tokens)
                    self._queue.put_nowait((self._clock(), item))
        except BackendError as exc:
            self._queue.put_nowait(exc)
        finally:
            self._queue.put_nowait(None)

    async def items(self) -> AsyncGenerator[Timed, None]:
        """The buffered and coming items; leaving early closes the request on the server."""
        try:
            while (entry := await self._queue.get()) is not None:
                if isinstance(entry, BaseException):
                    raise entry
                yield entry
        finally:
            await self.aclose()

    def cancel(self) -> None:
        self._task.cancel()

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class EarlyStarts:
    """The early requests of one generation: those in flight, and those cancelled but not yet closed."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._live: list[EarlyStart] = []
        self._dropped: list[EarlyStart] = []
        self._unreported = 0  # cancelled since the last `take_cancelled()`

    def __bool__(self) -> bool:
        return bool(self._live)

    def start(self, role: Role, backend: Backend, request: CompletionRequest) -> None:
        self._live.append(EarlyStart(role, backend, request, self._clock))

    def drop(self) -> None:
        """Cancel every request in flight (their cut did not come); the server aborts them."""
        for early in self._live:
            early.cancel()
            self._dropped.append(early)
            self._unreported += 1
        self._live = []

    def adopt(self, role: Role, request: CompletionRequest) -> EarlyStart | None:
        """The early request made for exactly this request, if any; the others are cancelled."""
        match = next((e for e in self._live if e.role == role and e.request == request), None)
        if match is not None:
            self._live.remove(match)
        self.drop()
        return match

    def take_cancelled(self) -> int:
        """Cancellations since the last call (each segment reports its own)."""
        count, self._unreported = self._unreported, 0
        return count

    async def aclose(self) -> dict[Role, int]:
        """Cancel what is in flight, wait for every cancelled request to close; tokens streamed in vain."""
        self.drop()
        wasted: dict[Role, int] = {}
        for early in self._dropped:
            await early.aclose()
            wasted[early.role] = wasted.get(early.role, 0) + early.received_tokens
        self._dropped.clear()
        return wasted
