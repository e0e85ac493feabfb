"""Microbenchmark (not a timed test): the one-pass parser on the recorded vLLM chunks, in 1-event reads
(a paced server), in µs per chunk. It replaced httpx-sse + json + pydantic models, which measured about
twice this (docs/performance.md, "The client at GPU rates"); the reference parse is kept in
tests/unit/backends/test_sse_fast.py.
Run: .venv/bin/pytest tests/benchmarks/test_sse_parse.py --benchmark-enable -s
"""

from __future__ import annotations

import gzip
import json
from importlib import resources

from relaychat.backends.base import StreamEnd
from relaychat.backends.sse_fast import SSEData, parse_payload
from relaychat.bench import fake_vllm
from tests.unit.backends.test_sse_fast import reference_chunks


def _payloads() -> list[str]:
    path = resources.files("relaychat.bench") / "data" / fake_vllm.DEFAULT_RECORDING
    with gzip.open(path.open("rb"), "rt", encoding="utf-8") as handle:
        return [d for line in handle for d in json.loads(line)["data"] if d != "[DONE]"]


def one_pass(reads: list[bytes]) -> int:
    framing, end, tokens = SSEData(), StreamEnd(), 0
    for read in reads:
        for payload in framing.feed(read):
            tokens += sum(len(c.tokens) for c in parse_payload(payload, end))
    return tokens


def test_parse_recorded_chunks(benchmark) -> None:  # type: ignore[no-untyped-def]
    payloads = _payloads()
    reads = [f"data: {p}\n\n".encode() for p in payloads]
    tokens = benchmark(one_pass, reads)
    end = StreamEnd()
    assert tokens == sum(len(c.tokens) for p in payloads for c in reference_chunks(p, end))
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        print(f"\none pass: {stats.stats.median / len(reads) * 1e6:.1f} µs per chunk ({len(reads)} chunks)")
