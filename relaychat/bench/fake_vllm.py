"""A fake vLLM OpenAI-compatible server that replays recorded SSE streams: a load generator for the client.

The chunks are the real ones (vLLM 0.32 on the cpu-demo servers, `record_streams.py`): same bodies,
logprobs and token ids, sent as pre-encoded bytes, so the server costs a few µs per token and the
client, not the load generator, sets the pace. Each streamed request gets the next recording of its
model from a rotating start, cut at its `max_tokens` (or at the recording's own end of text). Streams
go as fast as the socket takes them, or at `rate` tokens/s each (every stream on one shared step
clock, as an engine batches its requests).

The HTTP side is a minimal HTTP/1.1 server with keep-alive and chunked SSE, as uvicorn answers:
`GET /health`, `/v1/models`, `/metrics`; `POST /v1/completions` (streamed or not), `/tokenize`,
`/reset_prefix_cache`. Like a vLLM started without `VLLM_MAX_STOP_STRINGS`, it refuses more than 4 stop
strings (HTTP 400), so the relay detects cues itself on the stream, its most expensive path.

Run: `python -m relaychat.bench.fake_vllm --serve large=9102 --serve small=9101 [--rate 100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_RECORDING = "cpu-demo-streams.jsonl.gz"
MAX_STOP_STRINGS = 4  # vLLM 0.32's default cap


@dataclass
class Recording:
    """One recorded stream: its token-carrying chunks (parsed and pre-encoded) and how it ended."""

    chunks: list[dict[str, Any]]
    encoded: list[bytes]  # each chunk as one HTTP chunk holding one SSE event
    tokens: list[int]  # tokens carried by each chunk
    finish_reason: str | None  # of the recording's last chunk: "stop" (end of text) or "length"
    prompt_token_ids: list[int]


@dataclass
class ModelStreams:
    """A served model and its recordings, handed out in turn with a rotating start."""

    name: str
    recordings: list[Recording]
    served: int = 0
    tokens_sent: int = 0
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    def next_start(self) -> tuple[Recording, int]:
        n = next(self._turn)
        recording = self.recordings[n % len(self.recordings)]
        # Start at a different chunk each time round, so a cut lands at a different cue every time.
        start = (n // len(self.recordings)) * 17 % max(len(recording.chunks) // 2, 1)
        return recording, start


def _sse_chunk(payload: bytes) -> bytes:
    event = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


def load_recordings(path: Path | None = None) -> dict[str, ModelStreams]:
    """Recordings by the role their model had in the relay ("large", "small")."""
    source = path or resources.files("relaychat.bench") / "data" / DEFAULT_RECORDING
    models: dict[str, ModelStreams] = {}
    with gzip.open(source.open("rb"), "rt", encoding="utf-8") as handle:
        for line in handle:
            stream = json.loads(line)
            chunks, encoded, tokens = [], [], []
            finish: str | None = None
            prompt_ids: list[int] = []
            for data in stream["data"]:
                if data == "[DONE]":
                    continue
                chunk = json.loads(data)
                if not chunk.get("choices"):
                    continue  # the usage chunk: made up per request
                choice = chunk["choices"][0]
                prompt_ids = prompt_ids or choice.get("prompt_token_ids") or []
                finish = choice.get("finish_reason") or finish
                if finish == "length":  # the recording's own cap: replays set their own
                    choice["finish_reason"] = None
                    data = json.dumps(chunk, ensure_ascii=False)
                chunks.append(chunk)
                encoded.append(_sse_chunk(data.encode()))
                tokens.append(len(choice.get("token_ids") or []))
            model = models.setdefault(stream["role"], ModelStreams(stream["model"], []))
            model.recordings.append(Recording(chunks, encoded, tokens, finish, prompt_ids))
    return models


@dataclass
class Request:
    method: str
    path: str
    body: dict[str, Any]


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    raw = await reader.readexactly(length) if length else b""
    return Request(method, path.split("?", 1)[0], json.loads(raw) if raw else {})


def _response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


def _json(status: int, value: object) -> bytes:
    return _response(status, json.dumps(value).encode())


class FakeVLLM:
    """One served model on one port."""

    def __init__(self, model: ModelStreams, rate: float | None, max_model_len: int = 4096) -> None:
        self.model = model
        self.step = 1.0 / rate if rate else 0.0
        self.max_model_len = max_model_len

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (request := await _read_request(reader)) is not None:
                if not await self._route(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except (ValueError, asyncio.LimitOverrunError) as exc:  # not HTTP, or a body that is not JSON
            writer.write(_json(400, {"error": {"message": f"bad request: {exc}"}}))
        finally:
            writer.close()

    async def _route(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is gone (the client closed a stream)."""
        path, body = request.path, request.body
        if path == "/v1/completions" and body.get("stream"):
            return await self._stream(body, writer)
        if path == "/v1/completions":
            writer.write(self._completion(body))
        elif path == "/health" or path == "/reset_prefix_cache":
            writer.write(_response(200, b""))
        elif path == "/v1/models":
            entry = {"id": self.model.name, "object": "model", "max_model_len": self.max_model_len}
            writer.write(_json(200, {"object": "list", "data": [entry]}))
        elif path == "/tokenize":
            writer.write(_json(200, {"tokens": _fake_ids(body.get("prompt", ""))}))
        elif path == "/metrics":
            text = (
                f"fake_tokens_sent_total {self.model.tokens_sent}\nfake_streams_total {self.model.served}\n"
            )
            writer.write(_response(200, text.encode(), "text/plain"))
        else:
            writer.write(_json(404, {"error": {"message": f"no route {path}"}}))
        await writer.drain()
        return True

    def _rejection(self, body: dict[str, Any]) -> bytes | None:
        stops = body.get("stop") or []
        if len(stops) > MAX_STOP_STRINGS:
            message = f"Too many stop strings: {len(stops)} > {MAX_STOP_STRINGS} (VLLM_MAX_STOP_STRINGS)"
            return _json(400, {"error": {"message": message, "type": "BadRequestError", "code": 400}})
        prompt = body.get("prompt")
        count = len(prompt) if isinstance(prompt, list) else len(_fake_ids(prompt))
        wanted = count + int(body.get("max_tokens") or 16)
        if wanted > self.max_model_len:  # vLLM's own check, and its words
            message = (
                f"This model's maximum context length is {self.max_model_len} tokens. However, you "
                f"requested {wanted} tokens ({count} in the messages, {wanted - count} in the completion)."
            )
            return _json(400, {"error": {"message": message, "type": "BadRequestError", "code": 400}})
        return None

    def _completion(self, body: dict[str, Any]) -> bytes:
        """A prompt-only request (prefill feed, stop-list probe): one token, no stream."""
        rejected = self._rejection(body)
        if rejected is not None:
            return rejected
        choice = {
            "index": 0,
            "text": " the",
            "logprobs": None,
            "finish_reason": "length",
            "stop_reason": None,
        }
        return _json(200, {"object": "text_completion", "model": self.model.name, "choices": [choice]})

    async def _stream(self, body: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        rejected = self._rejection(body)
        if rejected is not None:
            writer.write(rejected)
            await writer.drain()
            return True
        self.model.served += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        limit = int(body.get("max_tokens") or 16)
        prompt = body.get("prompt")
        prompt_ids = prompt if isinstance(prompt, list) else _fake_ids(prompt)
        sent = 0
        loop = asyncio.get_running_loop()
        due = math.ceil(loop.time() / self.step) * self.step if self.step else 0.0
        finish: str | None = "length"
        first = True
        try:
            while sent < limit:
                recording, start = self.model.next_start()
                for i in range(start, len(recording.chunks)):
                    count = recording.tokens[i]
                    last = sent + count >= limit
                    ends_text = i == len(recording.chunks) - 1 and recording.finish_reason == "stop"
                    if first or last or ends_text:
                        writer.write(_rewritten(recording, i, first, prompt_ids, "length" if last else None))
                        first = False
                    else:
                        writer.write(recording.encoded[i])
                    sent += count
                    if writer.transport.is_closing():
                        return False  # the client closed the stream: vLLM aborts the request
                    if self.step:
                        due += self.step
                        await asyncio.sleep(max(due - loop.time(), 0))
                    elif writer.transport.get_write_buffer_size() > 65536:
                        await writer.drain()
                    if last or ends_text:
                        finish = "length" if last else "stop"
                        break
                if finish == "stop" or sent >= limit:
                    break
            self.model.tokens_sent += sent
            usage = {"prompt_tokens": len(prompt_ids or []), "completion_tokens": sent}
            usage["total_tokens"] = usage["prompt_tokens"] + sent
            tail = {"object": "text_completion", "model": self.model.name, "choices": [], "usage": usage}
            writer.write(_sse_chunk(json.dumps(tail).encode()) + _sse_chunk(b"[DONE]") + b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            return False
        if writer.transport.is_closing():
            return False
        return True


def _rewritten(
    recording: Recording, i: int, first: bool, prompt_ids: list[int] | None, finish: str | None
) -> bytes:
    """A chunk whose framing differs from the recording: a response's first, or one cut at max_tokens."""
    chunk = json.loads(json.dumps(recording.chunks[i]))
    choice = chunk["choices"][0]
    choice["prompt_token_ids"] = (prompt_ids or recording.prompt_token_ids) if first else None
    if finish is not None:
        choice["finish_reason"] = finish
    return _sse_chunk(json.dumps(chunk, ensure_ascii=False).encode())


def _fake_ids(text: object) -> list[int]:
    """About one id per four characters, at least one: what the relay needs of a tokenizer here."""
    length = len(text) if isinstance(text, str) else 4
    return [100 + (i % 1000) for i in range(max(1, length // 4))]


async def start(
    ports: dict[str, int],
    rate: float | None = None,
    recording: Path | None = None,
    max_model_len: int = 4096,
) -> dict[str, asyncio.Server]:
    """Listen for each role on its port (0: any free port); the servers are already accepting."""
    models = load_recordings(recording)
    missing = set(ports) - set(models)
    if missing:
        raise SystemExit(f"no recording for {', '.join(sorted(missing))} (recorded: {', '.join(models)})")
    servers = {}
    for role, port in ports.items():
        fake = FakeVLLM(models[role], rate, max_model_len)
        servers[role] = await asyncio.start_server(fake.handle, "127.0.0.1", port, backlog=1024)
    return servers


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


async def serve(
    ports: dict[str, int], rate: float | None, recording: Path | None = None, max_model_len: int = 4096
) -> None:
    """Serve until killed; prints `ready ROLE=PORT ...` once every port listens."""
    servers = await start(ports, rate, recording, max_model_len)
    print("ready " + " ".join(f"{role}={port_of(s)}" for role, s in servers.items()), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers.values()))


def _role_port(value: str) -> tuple[str, int]:
    role, _, port = value.partition("=")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected ROLE=PORT, got {value!r}")
    return role, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description="Replay recorded vLLM SSE streams as a fake server.")
    parser.add_argument(
        "--serve", type=_role_port, action="append", required=True, metavar="ROLE=PORT", help="e.g. large=0"
    )
    parser.add_argument("--rate", type=float, default=None, help="tokens/s per stream (default: unlimited)")
    parser.add_argument("--recording", type=Path, default=None)
    parser.add_argument("--max-model-len", type=int, default=4096, help="context window in tokens")
    args = parser.parse_args()
    try:
        asyncio.run(serve(dict(args.serve), args.rate, args.recording, args.max_model_len))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
