"""Engine errors a person can act on, instead of httpx tracebacks."""

from __future__ import annotations


class BackendError(Exception):
    """Base class: `str(err)` is a sentence meant for the user."""

    kind = "backend"

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class ServerBusy(BackendError):
    """HTTP 429 or 503: the server is overloaded or not ready; the same request may pass later.

    `retry_after`: the seconds the server asked for (its `Retry-After`), when it said."""

    kind = "busy"

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.retry_after = retry_after


class ServerUnreachable(BackendError):
    kind = "connection"


class ServerTimeout(BackendError):
    kind = "timeout"


class RequestRejected(BackendError):
    """HTTP 4xx: the request is wrong for this server (context too long, too many stop strings...)."""

    kind = "http"


class PromptTooLong(RequestRejected):
    """The prompt alone does not fit a server's context window: no request could succeed."""

    kind = "prompt_too_long"


class ServerFailed(BackendError):
    """HTTP 5xx or a broken stream: the server is up but failed."""

    kind = "server"


class ProtocolError(BackendError):
    """The server answered something that is not the OpenAI completions format."""

    kind = "protocol"


def overflows_context(exc: BackendError) -> bool:
    """A server refused a request because prompt + max_tokens exceed its context window."""
    low = str(exc).lower()
    return isinstance(exc, RequestRejected) and ("context length" in low or "max_model_len" in low)


def explain_rejection(status: int, detail: str, url: str) -> str:
    """Turn vLLM's 400 messages into advice."""
    low = detail.lower()
    if "stop" in low and ("max" in low or "at most" in low or "too many" in low):
        hint = " The server caps stop strings per request; start it with VLLM_MAX_STOP_STRINGS=64."
    elif "context" in low or "max_model_len" in low or "maximum context length" in low:
        hint = " The prompt plus the token budget exceed the server's context: lower --max-tokens."
    elif status == 404:
        hint = " Is the served model name right? `relaychat` reads it from /v1/models."
    else:
        hint = ""
    return f"{url} rejected the request (HTTP {status}): {detail.strip()[:400]}.{hint}"
