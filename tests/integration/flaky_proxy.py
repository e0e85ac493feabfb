"""A loopback TCP proxy in front of a real server that cuts connections after N response bytes.

It turns a healthy vLLM server into one that dies mid-stream, so failure handling is tested against
real HTTP and real SSE, not a mock.
"""

from __future__ import annotations

import asyncio
import contextlib


class FlakyProxy:
    def __init__(self, target_port: int, cut_after_bytes: int) -> None:
        self.target_port = target_port
        self.cut_after_bytes = cut_after_bytes
        self.sent = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> FlakyProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await reader.read(4096):
                    if count:
                        self.sent += len(data)
                        if self.sent > self.cut_after_bytes:
                            break
                    writer.write(data)
                    await writer.drain()
            for w in (client_writer, upstream_writer):
                w.close()

        await asyncio.gather(
            pipe(client_reader, upstream_writer, False), pipe(upstream_reader, client_writer, True)
        )
