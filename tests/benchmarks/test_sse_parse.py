"""Microbenchmark (not a timed test): parsing the recorded vLLM chunks, httpx-sse + json vs one pass.

Both sides get the same raw SSE bytes in 1-event reads (a paced server) and report µs per chunk.
Run: .venv/bin/pytest tests/benchmarks/test_sse_parse.py --benchmark-enable -s
"""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest
from httpx_sse._decoders import SSEDecoder

from relaychat.backends.base import StreamEnd
from relaychat.backends.sse_fast import SSEData, parse_payload
from relaychat.backends.vllm import _parse_choice
from relaychat.bench import fake_vllm


def _reads() -> list[bytes]:
    path = resources.files("relaychat.bench") / "data" / fake_vllm.DEFAULT_RECORDING
    with gzip.open(path.open("rb"), "rt", encoding="utf-8") as handle:
        payloads = [d for line in handle for d in json.loads(line)["data"] if d != "[DONE]"]
    return [f"data: {p}\n\n".encode() for p in payloads]


def current(reads: list[bytes]) -> int:
    """What `VLLMBackend.stream` does per read: decode lines, SSE-decode them, json.loads, parse."""
    decoder, tokens = SSEDecoder(), 0
    for read in reads:
        for line in read.decode().splitlines():
            sse = decoder.decode(line)
            if sse is None:
                continue
            for choice in json.loads(sse.data).get("choices") or []:
                tokens += len(_parse_choice(choice).tokens)
    return tokens


def one_pass(reads: list[bytes]) -> int:
    framing, end, tokens = SSEData(), StreamEnd(), 0
    for read in reads:
        for payload in framing.feed(read):
            tokens += sum(len(c.tokens) for c in parse_payload(payload, end, "bench"))
    return tokens


@pytest.mark.parametrize("parser", [current, one_pass], ids=["httpx-sse+json", "one-pass"])
def test_parse_recorded_chunks(benchmark, parser) -> None:  # type: ignore[no-untyped-def]
    reads = _reads()
    tokens = benchmark(parser, reads)
    assert tokens == current(reads)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        per_chunk = stats.stats.median / len(reads) * 1e6
        print(f"\n{parser.__name__}: {per_chunk:.1f} µs per chunk ({len(reads)} chunks)")
