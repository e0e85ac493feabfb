"""Measure a running vLLM server's prefill, decode and cached-floor costs in a few seconds.

- Prefill per uncached prompt token: the slope of TTFT between a short and a long prompt, each
  starting with a fresh nonce so no block of it is cached (the prefix cache is keyed from the start).
- Cached floor: the long prompt again, now cached but for its last token (its length is whole KV
  blocks + 1), relay-shaped like `relaychat bench` measures it: streamed, top-2 logprobs, the
  model's own sampling settings.
- Decode: the inter-token latency of a short sampled stream that ignores EOS.
Timings on a shared machine only err upwards, so each TTFT is the best of a few tries.
Server replies are untrusted: anything malformed is a ProbeError, never a crash.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from relaychat.core.profile import Sampling
from relaychat.serving.costs import ServerCosts, now

SLOW_S = 1.5  # a long prompt this slow (bf16 without native bf16: ~3 s) is measured once: noise is small
FILLER = " ".join(f"Item {i}: the value {i * 7} goes in row {i % 9}." for i in range(1, 120))


class ProbeError(RuntimeError):
    """The server did not answer a probe request as expected; the message says which."""


@dataclass(frozen=True)
class ProbePlan:
    block_size: int = 32
    tries: int = 2  # per prompt length; the fastest counts
    floor_repeats: int = 3
    decode_tokens: int = 24

    @property
    def short_tokens(self) -> int:
        return max(self.block_size // 2, 4)

    @property
    def long_tokens(self) -> int:
        """Whole blocks + 1: resent, it leaves exactly one token to compute (the relay's floor)."""
        return 4 * self.block_size + 1


Clock = Callable[[], float]


class CostProbe:
    def __init__(
        self,
        url: str,
        model: str,
        sampling: Sampling,
        client: httpx.Client | None = None,
        clock: Clock = time.perf_counter,
        timeout: float = 120.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.sampling = sampling
        self._client = client or httpx.Client(timeout=timeout)
        self._clock = clock

    def measure(self, dtype: str, machine: str, plan: ProbePlan | None = None) -> ServerCosts:
        plan = plan or ProbePlan()
        short = min(self._ttft(self._fresh_ids(plan.short_tokens)) for _ in range(plan.tries))
        ids = self._fresh_ids(plan.long_tokens)
        long = self._ttft(ids)
        for _ in range(plan.tries - 1 if long < SLOW_S else 0):  # a slow prefill is not worth repeating
            ids = self._fresh_ids(plan.long_tokens)
            long = min(long, self._ttft(ids))
        floor = statistics.median(self._ttft(ids) for _ in range(plan.floor_repeats))
        slope = max((long - short) / (plan.long_tokens - plan.short_tokens), 0.0)
        decode = self._decode_ms(plan.decode_tokens)
        return ServerCosts(
            model=self.model,
            dtype=dtype,
            block_size=plan.block_size,
            machine=machine,
            prefill_ms_per_token=slope * 1000,
            decode_ms_per_token=decode,
            cached_ttft_ms=floor * 1000,
            request_ms=max(short - slope * plan.short_tokens, 0.0) * 1000,
            source="measured",
            measured_at=now(),
        )

    def close(self) -> None:
        self._client.close()

    # -- requests -----------------------------------------------------------------------------------

    def _fresh_ids(self, count: int) -> list[int]:
        """`count` token ids of a text that starts with a nonce: nothing of it is in any cache."""
        text = f"{uuid.uuid4().hex} {FILLER}"
        reply = self._post("/tokenize", {"model": self.model, "prompt": text, "add_special_tokens": False})
        ids = reply.get("tokens")
        if not isinstance(ids, list) or len(ids) < count or not all(isinstance(i, int) for i in ids):
            raise ProbeError(f"{self.url}/tokenize did not return {count} token ids")
        return ids[:count]

    def _body(self, ids: list[int], max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": ids,
            "max_tokens": max_tokens,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "logprobs": 2,
            "seed": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.sampling.top_k is not None:
            body["top_k"] = self.sampling.top_k
        return body

    def _ttft(self, ids: list[int]) -> float:
        """Seconds from sending a one-token request to its token arriving."""
        times, _ = self._stream(self._body(ids, 1))
        return times[0]

    def decode_ms_at(self, context: int, tokens: int = 24) -> float:
        """Decode ms/token with about `context` tokens in the cache (cost models keep it by context)."""
        return self._decode_ms(tokens, context)

    def _decode_ms(self, tokens: int, context: int = 8) -> float:
        ids = self._fresh_ids(context)
        times, generated = self._stream(self._body(ids, tokens) | {"ignore_eos": True})
        if generated < 3 or len(times) < 2:
            raise ProbeError(f"{self.url} streamed {generated} tokens where {tokens} were asked for")
        # The first token carries the prefill; one chunk may carry several tokens.
        return (times[-1] - times[0]) / (generated - 1) * 1000

    def _stream(self, body: dict[str, Any]) -> tuple[list[float], int]:
        """Arrival times (from sending) of chunks that carry text, and the generated-token count."""
        sent = self._clock()
        times: list[float] = []
        generated = 0
        try:
            with self._client.stream("POST", self.url + "/v1/completions", json=body) as reply:
                if reply.status_code != 200:
                    reply.read()
                    raise ProbeError(f"{self.url} answered HTTP {reply.status_code}: {reply.text[:200]}")
                for line in reply.iter_lines():
                    if not line.startswith("data:") or line.strip() == "data: [DONE]":
                        continue
                    chunk = json.loads(line[5:])
                    choices = chunk.get("choices") or []
                    if choices and isinstance(choices[0], dict) and choices[0].get("text") is not None:
                        times.append(self._clock() - sent)
                    usage = chunk.get("usage")
                    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                        generated = usage["completion_tokens"]
        except httpx.HTTPError as exc:
            raise ProbeError(f"{self.url} did not answer a probe: {exc}") from exc
        except (ValueError, AttributeError) as exc:
            raise ProbeError(f"{self.url} sent a malformed stream chunk: {exc}") from exc
        if not times:
            raise ProbeError(f"{self.url} streamed no token")
        return times, generated or len(times)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = self._client.post(self.url + path, json=body)
            reply.raise_for_status()
            data = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProbeError(f"{self.url}{path} failed: {exc}") from exc
        if not isinstance(data, dict):
            raise ProbeError(f"{self.url}{path} did not return a JSON object")
        return data


def served_block_size(url: str, timeout: float = 5.0) -> int | None:
    """The KV block size a running vLLM server reports in /metrics (`vllm:cache_config_info`)."""
    try:
        text = httpx.get(url.rstrip("/") + "/metrics", timeout=timeout).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("vllm:cache_config_info{"):
            for part in line.split(","):
                name, _, value = part.partition("=")
                if name.strip().split("{")[-1] == "block_size":
                    value = value.strip().strip('"')
                    return int(value) if value.isdigit() else None
    return None


def served_model(url: str, timeout: float = 5.0) -> str | None:
    """The first model name a server lists in /v1/models (untrusted: only a string is accepted)."""
    try:
        data = httpx.get(url.rstrip("/") + "/v1/models", timeout=timeout).json()
        name = data["data"][0]["id"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) else None
