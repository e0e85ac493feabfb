"""Measure a running vLLM server's prefill, decode and cached-floor costs in a few seconds.

- Prefill per uncached prompt token: the slope of TTFT between a short and a long prompt, each
  starting with a fresh nonce so no block of it is cached (the prefix cache is keyed from the start).
- Cached floor: the long prompt again, now cached but for its last token (its length is whole KV
  blocks + 1), measured by `serving.floor`, the one measurement `relaychat bench` also uses.
- Decode: the inter-token latency of a short sampled stream that ignores EOS.
Timings on a shared machine only err upwards, so each TTFT is the best of a few tries.
Requests go through the relay's own backend (`backends.vllm`), so each TTFT is taken on the request
the relay sends; decode on a raw body that ignores EOS. Server replies are untrusted:
anything malformed is a ProbeError, never a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from relaychat.backends.base import StreamEnd
from relaychat.backends.errors import BackendError, ProtocolError
from relaychat.backends.transport import Transport
from relaychat.backends.vllm import VLLMBackend
from relaychat.backends.vllm_client import blocking, run_sync
from relaychat.core.profile import Sampling
from relaychat.serving.costs import ServerCosts, now
from relaychat.serving.floor import (
    FLOOR_REPEATS,
    Clock,
    ProbeError,
    cached_ttft_s,
    floor_tokens,
    fresh_ids,
    ttft_s,
)

__all__ = ["CostProbe", "ProbeError", "ProbePlan", "served_block_size", "served_model"]

SLOW_S = 1.5  # a long prompt this slow (bf16 without native bf16: ~3 s) is measured once: noise is small


@dataclass(frozen=True)
class ProbePlan:
    block_size: int = 32
    tries: int = 2  # per prompt length; the fastest counts
    floor_repeats: int = FLOOR_REPEATS
    decode_tokens: int = 24

    @property
    def short_tokens(self) -> int:
        return max(self.block_size // 2, 4)

    @property
    def long_tokens(self) -> int:
        """Whole blocks + 1: resent, it leaves exactly one token to compute (the relay's floor)."""
        return floor_tokens(self.block_size)


class CostProbe:
    """Measures one server. `transport`: how to reach it (default: HTTP to `url`; tests pass an
    in-memory one). `measure` is synchronous: the server manager calls it between starts."""

    def __init__(
        self,
        url: str,
        model: str,
        sampling: Sampling,
        transport: Transport | None = None,
        clock: Clock = time.perf_counter,
        timeout: float = 120.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.sampling = sampling
        self._transport = transport
        self._timeout = timeout
        self._clock = clock

    def _client(self) -> VLLMBackend:
        return VLLMBackend(
            self.url,
            model=self.model,
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
            transport=self._transport,
        )

    def measure(self, dtype: str, machine: str, plan: ProbePlan | None = None) -> ServerCosts:
        """The server's costs (a few seconds of requests); ProbeError when it does not answer right."""

        async def run() -> ServerCosts:
            client = self._client()
            try:
                return await self._measure(client, dtype, machine, plan or ProbePlan())
            except BackendError as exc:
                raise ProbeError(f"{self.url} did not answer a probe: {exc}") from exc
            finally:
                await client.aclose()

        return run_sync(run)

    def close(self) -> None:
        """Nothing to release: each measurement opens and closes its own connections."""

    async def _measure(self, client: VLLMBackend, dtype: str, machine: str, plan: ProbePlan) -> ServerCosts:
        short = min(
            [
                await self._ttft(client, await self._fresh_ids(client, plan.short_tokens))
                for _ in range(plan.tries)
            ]
        )
        ids = await self._fresh_ids(client, plan.long_tokens)
        long = await self._ttft(client, ids)
        for _ in range(plan.tries - 1 if long < SLOW_S else 0):  # a slow prefill is not worth repeating
            ids = await self._fresh_ids(client, plan.long_tokens)
            long = min(long, await self._ttft(client, ids))
        floor = await cached_ttft_s(
            client, self.sampling, plan.block_size, plan.floor_repeats, cached_ids=ids, clock=self._clock
        )
        slope = max((long - short) / (plan.long_tokens - plan.short_tokens), 0.0)
        decode = await self._decode_ms(client, plan.decode_tokens)
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

    # -- requests -----------------------------------------------------------------------------------

    async def _fresh_ids(self, client: VLLMBackend, count: int) -> list[int]:
        return await fresh_ids(client, count)

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

    async def _ttft(self, client: VLLMBackend, ids: list[int]) -> float:
        return await ttft_s(client, self.sampling, ids, self._clock)

    def decode_ms_at(self, context: int, tokens: int = 24) -> float:
        """Decode ms/token with about `context` tokens in the cache (cost models keep it by context)."""

        async def run() -> float:
            client = self._client()
            try:
                return await self._decode_ms(client, tokens, context)
            except BackendError as exc:
                raise ProbeError(f"{self.url} did not answer a probe: {exc}") from exc
            finally:
                await client.aclose()

        return run_sync(run)

    async def _decode_ms(self, client: VLLMBackend, tokens: int, context: int = 8) -> float:
        ids = await self._fresh_ids(client, context)
        times, generated = await self._stream(client, self._body(ids, tokens) | {"ignore_eos": True})
        if generated < 3 or len(times) < 2:
            raise ProbeError(f"{self.url} streamed {generated} tokens where {tokens} were asked for")
        # The first token carries the prefill; one chunk may carry several tokens.
        return (times[-1] - times[0]) / (generated - 1) * 1000

    async def _stream(self, client: VLLMBackend, body: dict[str, Any]) -> tuple[list[float], int]:
        """Arrival times (from sending) of chunks that carry text, and the generated-token count."""
        sent = self._clock()
        times: list[float] = []
        end = StreamEnd()
        try:
            async for chunk in client.client.stream(body, end):
                if chunk.tokens or chunk.text:
                    times.append(self._clock() - sent)
        except ProtocolError as exc:
            raise ProbeError(f"{self.url} sent a malformed stream chunk: {exc}") from exc
        if not times:
            raise ProbeError(f"{self.url} streamed no token")
        return times, end.completion_tokens or len(times)


def served_block_size(url: str, timeout: float = 5.0) -> int | None:
    """The KV block size a running vLLM server reports in /metrics (`vllm:cache_config_info`)."""
    try:
        text = blocking(url, lambda client: client.metrics(timeout), timeout)
    except BackendError:
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
        models = blocking(url, lambda client: client.models(timeout), timeout)
    except BackendError:
        return None
    return models[0]["id"] if models else None
