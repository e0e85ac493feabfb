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
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from relaychat.backends.base import Backend, CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.errors import BackendError
from relaychat.core.events import Role

Item = StreamChunk | StreamEnd
Timed = tuple[float, Item]  # arrival time on the run's clock, item


async def timed(stream: AsyncIterator[Item], clock: Callable[[], float]) -> AsyncIterator[Timed]:
    """A backend stream with each item's arrival time, the shape an early start delivers too."""
    async with aclosing(stream) as items:
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
            async with aclosing(backend.stream(self.request)) as stream:
                async for item in stream:
                    if isinstance(item, StreamChunk):
                        self.received_tokens += len(item.tokens)
                    self._queue.put_nowait((self._clock(), item))
        except BackendError as exc:
            self._queue.put_nowait(exc)
        finally:
            self._queue.put_nowait(None)

    async def items(self) -> AsyncIterator[Timed]:
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
