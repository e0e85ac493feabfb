"""The load generator replays the recorded vLLM chunks faithfully, and the client-only bench counts them."""

from __future__ import annotations

import asyncio
import gzip
import json
from importlib import resources

import pytest

from relaychat.backends.base import CompletionRequest, StreamChunk, StreamEnd
from relaychat.backends.vllm import VLLMBackend
from relaychat.bench import fake_vllm
from relaychat.bench.client_only import client_only, run_level
from relaychat.core.profile import load_profile
from relaychat.relay import open_relay


def _recorded(role: str) -> list[dict]:
    path = resources.files("relaychat.bench") / "data" / fake_vllm.DEFAULT_RECORDING
    with gzip.open(path, "rt", encoding="utf-8") as handle:  # type: ignore[arg-type]
        streams = [json.loads(line) for line in handle]
    return [s for s in streams if s["role"] == role]


@pytest.fixture
async def servers():  # type: ignore[no-untyped-def]
    started = await fake_vllm.start({"large": 0, "small": 0})
    backends = {role: VLLMBackend(f"http://127.0.0.1:{fake_vllm.port_of(s)}") for role, s in started.items()}
    yield backends
    for backend in backends.values():
        await backend.aclose()
    for server in started.values():
        server.close()
        await server.wait_closed()


def test_recording_is_real_vllm_chunks_with_logprobs_and_ids() -> None:
    for role in ("large", "small"):
        streams = _recorded(role)
        assert len(streams) >= 2
        for stream in streams:
            assert stream["body"]["logprobs"] == 2 and stream["body"]["return_token_ids"] is True
            first = json.loads(stream["data"][0])["choices"][0]
            assert first["prompt_token_ids"] and first["token_ids"] and first["logprobs"]["top_logprobs"]
            assert stream["data"][-1] == "[DONE]"


async def test_stream_replays_recorded_tokens_and_cuts_at_max_tokens(servers) -> None:  # type: ignore[no-untyped-def]
    large = servers["large"]
    assert (await large.info()).name == _recorded("large")[0]["model"]
    request = CompletionRequest(prompt=[5, 6, 7], max_tokens=25)
    items = [item async for item in large.stream(request)]
    chunks = [i for i in items if isinstance(i, StreamChunk)]
    end = items[-1]
    assert isinstance(end, StreamEnd)
    tokens = [t for c in chunks for t in c.tokens]
    assert len(tokens) == 25 == end.completion_tokens
    assert end.finish_reason == "length"
    assert chunks[0].prompt_token_ids == [5, 6, 7]
    recorded = [json.loads(d)["choices"][0] for d in _recorded("large")[0]["data"][:25]]
    assert [t.id for t in tokens] == [c["token_ids"][0] for c in recorded]
    assert [t.top_logprobs for t in tokens] == [c["logprobs"]["top_logprobs"][0] for c in recorded]


async def test_long_stop_lists_are_refused_like_vllms_default(servers) -> None:  # type: ignore[no-untyped-def]
    assert await servers["large"].accepts_stops(["a", "b", "c", "d"]) is True
    assert await servers["large"].accepts_stops(["a", "b", "c", "d", "e"]) is False


async def test_paced_streams_deliver_every_token() -> None:
    started = await fake_vllm.start({"small": 0}, rate=500.0)
    backend = VLLMBackend(f"http://127.0.0.1:{fake_vllm.port_of(started['small'])}")
    try:
        items = [i async for i in backend.stream(CompletionRequest(prompt="x", max_tokens=20))]
        assert sum(len(i.tokens) for i in items if isinstance(i, StreamChunk)) == 20
    finally:
        await backend.aclose()
        started["small"].close()


async def test_client_level_counts_every_received_token(servers) -> None:  # type: ignore[no-untyped-def]
    profile = load_profile("cpu-demo").with_urls(servers["large"].url, servers["small"].url)
    relay = open_relay(profile, backends=servers, policy=None)  # the fixture closes the backends
    level = await run_level(relay, concurrency=3, runs=3, max_tokens=120, trace_dir=None)
    assert level.failed == 0 and level.first_error is None
    assert level.runs == 3
    # Each run receives at least its kept tokens, at most its budget plus the look-ahead of each cut.
    assert 3 * 30 <= level.tokens <= 3 * 200
    assert level.cpu_s > 0 and level.us_per_token > 0


def test_client_only_runs_the_load_generator_in_a_child_process() -> None:
    levels = asyncio.run(client_only(load_profile("cpu-demo"), [2], 1, 80, traces=True))
    assert [level.concurrency for level in levels] == [2]
    assert levels[0].failed == 0 and levels[0].tokens > 0
    assert levels[0].server_cpu_s is not None
    # The idle heartbeat's share is measured apart, and is a part of the whole.
    assert 0 < levels[0].idle_us_per_token < levels[0].us_per_token


def test_cli_client_only_writes_its_levels(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from relaychat.cli.main import main

    out = tmp_path / "client.json"
    argv = ["bench", "--client-only", "--levels", "1,2", "--runs-per-session", "1", "--max-tokens", "60"]
    with pytest.raises(SystemExit) as done:
        main([*argv, "--traces", "--json", str(out)])
    assert done.value.code == 0
    document = json.loads(out.read_text())
    assert [level["concurrency"] for level in document["levels"]] == [1, 2]
    assert document["meta"]["traces"] is True
    assert all(level["tokens"] > 0 and level["failed"] == 0 for level in document["levels"])
    assert "client µs/tok" in capsys.readouterr().out


def test_cli_client_only_rejects_bad_levels(capsys) -> None:  # type: ignore[no-untyped-def]
    from relaychat.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["bench", "--client-only", "--levels", "1,x"])
    assert done.value.code == 2
    assert "--levels takes positive integers" in capsys.readouterr().err


async def test_a_malformed_request_gets_a_400_not_a_crash(servers) -> None:  # type: ignore[no-untyped-def]
    port = int(servers["large"].url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /v1/completions HTTP/1.1\r\ncontent-length: 5\r\n\r\n{oops")
    reply = await reader.read()
    writer.close()
    assert reply.startswith(b"HTTP/1.1 400") and b"bad request" in reply
    assert (await servers["large"].info()).name  # the server still answers
