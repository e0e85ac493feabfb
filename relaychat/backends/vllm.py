"""The real engine client: vLLM's OpenAI-compatible `/v1/completions` over httpx, streamed as SSE.

One kept-alive `httpx.AsyncClient` per server, the served model name resolved once, vLLM's extras
(`min_tokens`, `top_k`, `return_token_ids`, ...) at the top level of the JSON body. Leaving the
`stream()` iterator early closes the HTTP response, which makes vLLM abort the request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from relaychat.backends.base import (
    CompletionRequest,
    ModelInfo,
    PromptScores,
    StreamChunk,
    StreamEnd,
    Token,
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
from relaychat.redact import redact_text, redact_url

MAX_RETRY_AFTER_S = 600.0  # a longer Retry-After is honoured only up to this


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
        self._read_timeout = read_timeout
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
        return redact_text(message, self._secrets)

    def _translate(self, exc: Exception) -> BackendError:
        if isinstance(exc, BackendError):
            return exc
        url = self.shown_url
        if isinstance(exc, httpx.ConnectTimeout):
            return ServerTimeout(
                f"{url} did not accept a connection in time (connect timeout; "
                "raise it with --connect-timeout or `connect_timeout` in the settings)",
                url=self.url,
            )
        if isinstance(exc, httpx.ConnectError):
            return ServerUnreachable(
                f"cannot connect to {url}: is the server running? "
                f"(`relaychat serve --profile cpu-demo` starts the demo servers)",
                url=self.url,
            )
        if isinstance(exc, httpx.TimeoutException):
            return ServerTimeout(
                f"{url} sent nothing for {self._read_timeout:g} s ({type(exc).__name__}; "
                "raise it with --read-timeout or `read_timeout` in the settings)",
                url=self.url,
            )
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            return ServerFailed(self._clean(f"{url} closed the connection mid-stream: {exc}"), url=self.url)
        if isinstance(exc, httpx.HTTPError):
            return ServerFailed(self._clean(f"{url}: {exc}"), url=self.url)
        if isinstance(
            exc, (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, IndexError)
        ):
            return ProtocolError(
                self._clean(f"{url} sent an unexpected reply: {type(exc).__name__}: {exc}"), url=self.url
            )
        raise exc

    async def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        body = (await response.aread()).decode("utf-8", "replace")
        detail = self._clean(_error_detail(body))
        status = response.status_code
        if status in (429, 503):
            wait = retry_after_s(response.headers.get("retry-after"))
            when = f"; it asks to retry in {wait:g} s" if wait is not None else ""
            raise ServerBusy(
                f"{self.shown_url} is busy (HTTP {status}): {detail[:400]}{when}",
                url=self.url,
                status=status,
                retry_after=wait,
            )
        if status < 500:
            raise RequestRejected(
                explain_rejection(status, detail, self.shown_url), url=self.url, status=status
            )
        raise ServerFailed(
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
        end = StreamEnd()
        try:
            async with aconnect_sse(self._client, "POST", "/v1/completions", json=body) as source:
                await self._raise_for_status(source.response)
                async for sse in source.aiter_sse():
                    if sse.data == "[DONE]":
                        break
                    payload = json.loads(sse.data)
                    if not isinstance(payload, dict):
                        raise ProtocolError(
                            f"{self.shown_url} sent a stream event that is not a JSON object: "
                            f"{sse.data[:80]!r}",
                            url=self.url,
                        )
                    if "error" in payload:  # vLLM reports mid-stream failures as an error object
                        error = payload["error"]
                        message = error.get("message", error) if isinstance(error, dict) else error
                        raise ServerFailed(
                            self._clean(f"{self.shown_url} failed mid-stream: {message}"), url=self.url
                        )
                    usage = payload.get("usage")
                    if usage:
                        end.prompt_tokens = usage.get("prompt_tokens")
                        end.completion_tokens = usage.get("completion_tokens")
                    for choice in payload.get("choices") or []:
                        chunk = _parse_choice(choice)
                        if choice.get("finish_reason") is not None:
                            end.finish_reason = choice["finish_reason"]
                            end.stop_reason = choice.get("stop_reason")
                        if chunk.tokens or chunk.text or chunk.prompt_token_ids:
                            yield chunk
        except BackendError:
            raise
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


def _parse_choice(choice: dict[str, Any]) -> StreamChunk:
    """Split a chunk's text into its tokens using vLLM's per-token strings when they add up."""
    text: str = choice.get("text") or ""
    ids: list[int] = choice.get("token_ids") or []
    logprobs = choice.get("logprobs") or {}
    pieces: list[str] = logprobs.get("tokens") or []
    tops: list[dict[str, float] | None] = logprobs.get("top_logprobs") or []
    count = max(len(ids), len(pieces))
    joined = "".join(pieces)
    if joined != text and joined.startswith(text) and len(pieces) == count:
        # The server cut the text at a stop string inside the last token: keep the whole tokens (the
        # relay trims at token boundaries itself, and the ids are the whole tokens anyway).
        text = joined
    elif joined != text or len(pieces) != count:
        # Byte-level pieces of a multi-byte character do not add up to the text: the boundaries
        # inside this chunk are unknown, so the whole text goes to the chunk's last token.
        pieces = [""] * max(count - 1, 0) + [text] if count else []
    tokens = [
        Token(
            text=pieces[i],
            id=ids[i] if i < len(ids) else None,
            top_logprobs=tops[i] if i < len(tops) else None,
        )
        for i in range(count)
    ]
    return StreamChunk(text=text, tokens=tokens, prompt_token_ids=choice.get("prompt_token_ids"))
