"""Recording streams for the load generator: over the backends every front end gets, closed once."""

from __future__ import annotations

import asyncio
import json

import pytest

from relaychat import relay as relay_module
from relaychat.backends.base import Backend
from relaychat.backends.replicas import ReplicaBackend
from relaychat.backends.transport import MemoryTransport, Sent
from relaychat.backends.vllm import VLLMBackend
from relaychat.bench.record_streams import one_server, record
from relaychat.core.profile import load_profile

PAYLOADS = [
    b'{"choices": [{"text": "Hi", "token_ids": [5], "finish_reason": null}]}',
    b'{"choices": [{"text": "!", "token_ids": [6], "finish_reason": "length"}]}',
    b"[DONE]",
]


def serving(name: str) -> MemoryTransport:
    def handle(sent: Sent) -> tuple[int, bytes | list[bytes]]:
        if sent.path == "/v1/models":
            return 200, json.dumps({"data": [{"id": name}]}).encode()
        return 200, [b"data: " + p + b"\n\n" for p in PAYLOADS]

    return MemoryTransport(handle, url=f"http://{name}")


def test_record_takes_both_roles_through_the_relays_backends_and_closes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transports = {"large": serving("big"), "small": serving("little")}
    made: dict[str, Backend] = {role: VLLMBackend(t.url, transport=t) for role, t in transports.items()}
    monkeypatch.setattr(relay_module, "make_backends", lambda profile, connection=None: made)
    streams = asyncio.run(record(load_profile("cpu-demo"), per_role=2, max_tokens=7))
    assert [s["role"] for s in streams] == ["large", "large", "small", "small"]
    assert [s["model"] for s in streams] == ["big", "big", "little", "little"]
    assert all(s["data"] == [p.decode() for p in PAYLOADS] for s in streams)  # verbatim
    body = streams[0]["body"]
    assert isinstance(body, dict)
    assert body["max_tokens"] == 7 and body["logprobs"] == 2 and body["stream"] is True
    assert "stop" not in body and body["seed"] == 1000
    assert all(t.closed for t in transports.values())


def test_a_replica_set_is_recorded_from_its_first_server() -> None:
    first, second = VLLMBackend("http://a:1"), VLLMBackend("http://b:2")
    assert one_server(ReplicaBackend([first, second])) is first
    assert one_server(first) is first
