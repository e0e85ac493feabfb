"""The real engine client: vLLM's OpenAI-compatible `/v1/completions`, the token stream as SSE.

The served model name is resolved once, vLLM's extras (`min_tokens`, `top_k`, `return_token_ids`, ...)
go at the top level of the JSON body. Short calls (models, feeds, tokenize, probes, metrics) use one
kept-alive `httpx.AsyncClient`. The token stream, the hot path, uses `aiohttp` (its C HTTP parser costs
a fraction of httpx's layered stack per network read: see docs/evaluation.md, issue 16) and the one-pass
parser of `sse_fast.py`. Leaving the `stream()` iterator early closes that connection, which makes vLLM
abort the request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from email.utils import parsedate_to_datetime
from time import time
from typing import Any
from urllib.request import getproxies

import aiohttp
import httpx
import pydantic

from relaychat.backends.base import (
    CompletionRequest,
    ModelInfo,
    PromptScores,
    StreamChunk,
    StreamEnd,
)
from relaychat.backends.errors import (
    BackendError,
    ProtocolError,
    RequestRejected,
    ServerBusy,
    ServerFailed,
    ServerTimeout,
    ServerUnreachable,
    explain_rejection,
)
from relaychat.backends.sse_fast import MidStreamError, stream_chunks
from relaychat.inert import inert
from relaychat.redact import redact_text, redact_url

MAX_RETRY_AFTER_S = 600.0  # a longer Retry-After is honoured only up to this
STREAM_HEADERS = {
    "Accept": "text/event-stream",
    "Cache-Control": "no-store",
    "Content-Type": "application/json",
}


class VLLMBackend:
    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.shown_url = redact_url(self.url)  # what messages say: never the URL's user:password
        self._secrets = (api_key,) if api_key else ()
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._stream_headers = STREAM_HEADERS | ({"Authorization": f"Bearer {api_key}"} if api_key else {})
        self._streams: aiohttp.ClientSession | None = None  # made on first use: it needs a running loop
        self._model = model
        self._info: ModelInfo | None = None
        self._stop_support: dict[int, bool] = {}  # stop-list size -> accepted by the server
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_keepalive_connections=16, keepalive_expiry=300),
        )

    def __repr__(self) -> str:
        return f"VLLMBackend({self.shown_url!r})"

    # -- errors ---------------------------------------------------------------------------------

    def _clean(self, message: str) -> str:
        """A message with URL credentials and the API key masked."""
        return inert(redact_text(message, self._secrets))  # a server's words: shown, never interpreted

    def _translate(self, exc: Exception) -> BackendError:
        """httpx's and aiohttp's errors as the backend's typed ones, with secrets masked."""
        if isinstance(exc, BackendError):
            return exc
        url = self.shown_url
        if isinstance(exc, httpx.ConnectTimeout | aiohttp.ConnectionTimeoutError):
            return ServerTimeout(
                f"{url} did not accept a connection in time (connect timeout; "
                "raise it with --connect-timeout or `connect_timeout` in the settings)",
                url=self.url,
            )
        if isinstance(exc, httpx.ConnectError | aiohttp.ClientConnectorError):
            return ServerUnreachable(
                f"cannot connect to {url}: is the server running? "
                f"(`relaychat serve --profile cpu-demo` starts the demo servers)",
                url=self.url,
            )
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            return ServerTimeout(
                f"{url} sent nothing for {self._read_timeout:g} s ({type(exc).__name__}; "
                "raise it with --read-timeout or `read_timeout` in the settings)",
                url=self.url,
            )
        if isinstance(
            exc,
            httpx.RemoteProtocolError
            | httpx.ReadError
            | aiohttp.ClientPayloadError
            | aiohttp.ClientConnectionError,
        ):
            return ServerFailed(self._clean(f"{url} closed the connection mid-stream: {exc}"), url=self.url)
        if isinstance(exc, httpx.HTTPError):
            return ServerFailed(self._clean(f"{url}: {exc}"), url=self.url)
        if isinstance(exc, aiohttp.ClientResponseError):  # aiohttp's parser: the reply is not HTTP
            return ProtocolError(
                self._clean(f"{url} sent a reply that is not HTTP: {exc.message}"), url=self.url
            )
        if isinstance(exc, pydantic.ValidationError):  # a stream event, parsed by `sse_fast`
            # Only pydantic's own words: the input and its location may hold the server's text.
            first = exc.errors(include_url=False, include_input=False)[0]
            if not first["loc"] and first["type"] != "json_invalid":
                return ProtocolError(f"{url} sent a stream event that is not a JSON object", url=self.url)
            return ProtocolError(
                f"{url} sent a stream event of the wrong shape: {first['msg']}", url=self.url
            )
        if isinstance(
            exc, (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError)
        ):
            return ProtocolError(
                self._clean(f"{url} sent an unexpected reply: {type(exc).__name__}: {exc}"), url=self.url
            )
        raise exc

    async def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise self._status_error(response.status_code, response.headers, await response.aread())

    def _status_error(self, status: int, headers: Mapping[str, str], body: bytes) -> BackendError:
        """The typed error for an HTTP error reply (`headers` looked up by lower-case name)."""
        detail = self._clean(_error_detail(body.decode("utf-8", "replace")))
        if status in (429, 503):
            wait = retry_after_s(headers.get("retry-after"))
            when = f"; it asks to retry in {wait:g} s" if wait is not None else ""
            return ServerBusy(
                f"{self.shown_url} is busy (HTTP {status}): {detail[:400]}{when}",
                url=self.url,
                status=status,
                retry_after=wait,
            )
        if status < 500:
            return RequestRejected(
                explain_rejection(status, detail, self.shown_url), url=self.url, status=status
            )
        return ServerFailed(
            f"{self.shown_url} failed (HTTP {status}): {detail[:400]}", url=self.url, status=status
        )

    # -- metadata -------------------------------------------------------------------------------

    async def info(self) -> ModelInfo:
        if self._info is not None:
            return self._info
        try:
            response = await self._client.get("/v1/models")
            await self._raise_for_status(response)
            models = response.json()["data"]
        except Exception as exc:
            raise self._translate(exc) from exc
        if not models:
            raise ProtocolError(f"{self.shown_url} serves no model", url=self.url)
        chosen = next((m for m in models if m["id"] == self._model), None) if self._model else models[0]
        if chosen is None:
            names = ", ".join(m["id"] for m in models)
            raise RequestRejected(
                f"{self.shown_url} does not serve a model named {self._model!r} (it serves: {names})",
                url=self.url,
            )
        self._info = ModelInfo(
            name=chosen["id"], max_model_len=chosen.get("max_model_len"), root=chosen.get("root")
        )
        return self._info

    async def health(self) -> bool:
        try:
            response = await self._client.get("/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def metrics(self) -> dict[str, float]:
        """vLLM's Prometheus counters and gauges (histogram series summed per name), for benchmarks."""
        try:
            response = await self._client.get("/metrics")
            await self._raise_for_status(response)
        except Exception as exc:
            raise self._translate(exc) from exc
        totals: dict[str, float] = {}
        for line in response.text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            if "_bucket" in name:
                continue
            try:
                totals[name] = totals.get(name, 0.0) + float(value)
            except ValueError:
                continue
        return totals

    # -- generation -----------------------------------------------------------------------------

    async def _body(self, request: CompletionRequest, **extra: Any) -> dict[str, Any]:
        info = await self.info()
        body: dict[str, Any] = {
            "model": info.name,
            "prompt": request.prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "return_token_ids": True,
            "add_special_tokens": request.add_special_tokens,
        }
        if request.min_tokens:
            body["min_tokens"] = request.min_tokens
        if request.stop:
            body["stop"] = request.stop
            body["include_stop_str_in_output"] = request.include_stop_str_in_output
        if request.logprobs is not None:
            body["logprobs"] = request.logprobs
        if request.top_k is not None:
            body["top_k"] = request.top_k
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(extra)
        return body

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk | StreamEnd, None]:
        body = await self._body(request, stream=True, stream_options={"include_usage": True})
        if self._streams is None:
            self._streams = aiohttp.ClientSession(
                # No pool cap: the relay bounds its streams itself (early starts can double them).
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=300),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self._connect_timeout, sock_read=self._read_timeout
                ),
                # Proxy variables, as httpx honours them for the other calls; only when set, since
                # trusting the environment also costs a thread hop per request (a netrc lookup).
                trust_env=bool(getproxies()),
                cookie_jar=aiohttp.DummyCookieJar(),  # vLLM sets no cookies: skip the per-request filter
            )
        end = StreamEnd()
        data = json.dumps(body).encode()
        try:
            async with self._streams.post(
                f"{self.url}/v1/completions", data=data, headers=self._stream_headers
            ) as response:
                if response.status >= 400:
                    raise self._status_error(response.status, response.headers, await response.read())
                async for chunk in stream_chunks(response.content.iter_any(), end):
                    yield chunk
                # The body's end after [DONE]: then the connection is kept for the next stream.
                while await response.content.readany():
                    pass
        except BackendError:
            raise
        except MidStreamError as exc:  # vLLM reports mid-stream failures as an error object
            raise ServerFailed(
                self._clean(f"{self.shown_url} failed mid-stream: {exc}"), url=self.url
            ) from None
        except Exception as exc:
            raise self._translate(exc) from exc
        if end.finish_reason is None:
            # Every complete vLLM stream names why it ended; without one the stream was cut short (a
            # proxy or server that closed the body early), and its text is not the model's whole reply.
            raise ProtocolError(
                f"{self.shown_url} ended the stream without a finish reason: the reply was cut short",
                url=self.url,
            )
        yield end

    async def reset_prefix_cache(self) -> bool:
        """Empty the server's prefix cache (vLLM dev mode only); False when the server does not allow it."""
        try:
            response = await self._client.post("/reset_prefix_cache")
        except httpx.HTTPError as exc:
            raise self._translate(exc) from exc
        return response.status_code == 200

    async def prefill(
        self, prompt: str | list[int], add_special_tokens: bool = True, route: str | None = None
    ) -> None:
        # vLLM wants max_tokens >= 1: one greedy token is the price of a prompt-only request.
        request = CompletionRequest(
            prompt=prompt, max_tokens=1, logprobs=None, temperature=0.0, add_special_tokens=add_special_tokens
        )
        body = await self._body(request)
        body["return_token_ids"] = False
        try:
            response = await self._client.post("/v1/completions", json=body)
            await self._raise_for_status(response)
        except Exception as exc:
            raise self._translate(exc) from exc

    async def accepts_stops(self, stops: list[str]) -> bool:
        if len(stops) in self._stop_support:
            return self._stop_support[len(stops)]
        probe = CompletionRequest(prompt="Hi", max_tokens=1, logprobs=None, stop=stops, temperature=0.0)
        try:
            response = await self._client.post("/v1/completions", json=await self._body(probe))
            await self._raise_for_status(response)
            accepted = True
        except RequestRejected as exc:
            if "stop" not in str(exc).lower():
                raise
            accepted = False
        except Exception as exc:
            raise self._translate(exc) from exc
        self._stop_support[len(stops)] = accepted
        return accepted

    async def tokenize(self, text: str, add_special_tokens: bool = False) -> list[int]:
        info = await self.info()
        body = {"model": info.name, "prompt": text, "add_special_tokens": add_special_tokens}
        try:
            response = await self._client.post("/tokenize", json=body)
            await self._raise_for_status(response)
            return [int(t) for t in response.json()["tokens"]]
        except Exception as exc:
            raise self._translate(exc) from exc

    async def score(self, prompt: str | list[int], top_k: int = 20) -> PromptScores:
        request = CompletionRequest(prompt=prompt, max_tokens=1, logprobs=None, temperature=0.0)
        body = await self._body(request, prompt_logprobs=top_k)
        try:
            response = await self._client.post("/v1/completions", json=body)
            await self._raise_for_status(response)
            choice = response.json()["choices"][0]
            entries = choice["prompt_logprobs"]
            ids = choice.get("prompt_token_ids") or []
        except Exception as exc:
            raise self._translate(exc) from exc
        tops: list[dict[str, float] | None] = []
        texts: list[str] = []
        for position, entry in enumerate(entries):
            if entry is None:
                tops.append(None)
                texts.append("")
                continue
            # Keyed by token id, so tokens with equal text do not collapse (unlike streaming top-k).
            tops.append({tid: float(v["logprob"]) for tid, v in entry.items()})
            own = entry.get(str(ids[position])) if position < len(ids) else None
            texts.append(own.get("decoded_token", "") if own else "")
        return PromptScores(token_ids=ids, top_logprobs=tops, tokens=texts)

    async def aclose(self) -> None:
        if self._streams is not None:
            await self._streams.close()
        await self._client.aclose()


def _error_detail(body: str) -> str:
    """The message of a vLLM error body: new style `{"error": {"message"}}`, old `{"message"}`."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return body
    if not isinstance(data, dict):
        return body
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(data.get("message"), str):
        return data["message"]
    return str(error) if error else body


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped; None when absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
