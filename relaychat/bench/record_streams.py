"""Record real vLLM SSE streams once, for the client-only load generator (`bench/fake_vllm.py`).

Each stream is requested with the exact body the relay sends (`completion_body`: logprobs 2, token
ids, the profile's sampling, a seed), but with no stop strings and a fixed `max_tokens`, so that one
recording holds a long run of real chunks the fake server can cut wherever a replayed request ends.
The `data:` payloads are stored verbatim, one JSON line per stream, gzip-compressed. The servers are
reached as every front end reaches them (`open_relay`, which owns the backends and closes them); a
role served by several replicas is recorded from its first.

Run against the running cpu-demo servers:
    python -m relaychat.bench.record_streams --out relaychat/bench/data/cpu-demo-streams.jsonl.gz
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
from pathlib import Path

from relaychat.backends.base import Backend, CompletionRequest
from relaychat.backends.replicas import ReplicaBackend
from relaychat.backends.vllm import VLLMBackend
from relaychat.backends.vllm_client import completion_body
from relaychat.core.events import Role
from relaychat.core.profile import PairProfile, load_profile
from relaychat.core.prompt import render_prefix
from relaychat.relay import open_relay

QUESTIONS = [
    "A train travels 120 km in 1.5 hours. What is its average speed in km/h?",
    "What is the sum of the first 20 positive integers?",
    "A rectangle has perimeter 30 and length 9. What is its area?",
    "How many positive divisors does 36 have?",
]
# What the small model continues in a relay: the large model's reasoning up to a cue.
SMALL_LEADS = [
    "First, find the distance and the time. The train goes 120 km in 1.5 hours. So,",
    "We add the numbers from 1 to 20. Now,",
    "The perimeter is 2 * (length + width). Therefore,",
    "List the divisors of 36 in pairs. Thus,",
]


def _prompt(profile: PairProfile, role: Role, index: int) -> str:
    question = QUESTIONS[index % len(QUESTIONS)]
    prefix = render_prefix(profile.spec(role).prompt, [{"role": "user", "content": question}])
    return prefix if role == "large" else prefix + SMALL_LEADS[index % len(SMALL_LEADS)]


async def record_one(
    backend: VLLMBackend, profile: PairProfile, role: Role, index: int, max_tokens: int
) -> dict[str, object]:
    """One stream's request body and its `data:` payloads exactly as the server sent them."""
    sampling = profile.spec(role).sampling
    request = CompletionRequest(
        prompt=_prompt(profile, role, index),
        max_tokens=max_tokens,
        logprobs=2,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        seed=1000 + index,
        add_special_tokens=profile.spec(role).prompt.add_special_tokens,
    )
    model = (await backend.info()).name
    body = completion_body(request, model, stream=True, stream_options={"include_usage": True})
    payloads = [p.decode() for p in await backend.client.stream_payloads(body)]
    return {"role": role, "model": body["model"], "body": body, "data": payloads}


def one_server(backend: Backend) -> VLLMBackend:
    """The vLLM server a recording comes from: the backend itself, or a replica set's first."""
    while isinstance(backend, ReplicaBackend):
        backend = backend.replicas[0]
    if not isinstance(backend, VLLMBackend):
        raise TypeError(f"recording needs a vLLM server, not {backend!r}")
    return backend


async def record(profile: PairProfile, per_role: int, max_tokens: int) -> list[dict[str, object]]:
    streams = []
    async with open_relay(profile, policy=None) as relay:
        for role in ("large", "small"):
            backend = one_server(relay.backends[role])
            for index in range(per_role):
                streams.append(await record_one(backend, profile, role, index, max_tokens))
    return streams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu-demo")
    parser.add_argument("--per-role", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    streams = asyncio.run(record(load_profile(args.profile), args.per_role, args.max_tokens))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt", encoding="utf-8", compresslevel=9) as handle:
        for stream in streams:
            handle.write(json.dumps(stream, ensure_ascii=False) + "\n")
    chunks = sum(len(s["data"]) for s in streams if isinstance(s["data"], list))
    print(f"{len(streams)} streams, {chunks} chunks -> {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
