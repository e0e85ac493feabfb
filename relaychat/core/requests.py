"""What one segment asks of a server: the completion request, clamped to the server's context.

Also where the relay decides, once per generation, whether cues are cut by the server (boundary-encoded
stop strings) or detected by the client on the token stream.
"""

from __future__ import annotations

from typing import Literal

from relaychat.backends.base import Backend, CompletionRequest
from relaychat.backends.errors import PromptTooLong, RequestRejected
from relaychat.core.profile import ModelSpec

CONTEXT_SLACK = 8  # tokens kept free below the server's context limit (estimates in text mode)
MARKER_ROOM = 8  # tokens the appended reasoning-end marker may take in the answer model's prompt

CuePath = Literal["client", "server"]


def room_in_context(limit: int, prompt_len: int | None, max_len: int | None) -> int:
    """`limit` lowered to what fits after the prompt in the server's context window (<= 0: nothing)."""
    if not max_len or prompt_len is None:
        return limit
    return min(limit, max_len - prompt_len - CONTEXT_SLACK)


def check_prompt_fits(prompt_len: int, max_len: int | None, *, role: str, url: str) -> None:
    """PromptTooLong when the question's prompt alone leaves no room to generate in the window."""
    if max_len and prompt_len + CONTEXT_SLACK >= max_len:
        raise PromptTooLong(
            f"the question is too long for the {role} model: its prompt is at least {prompt_len} tokens "
            f"and the server's context window is {max_len} tokens. Shorten the question or serve the "
            "model with a longer --max-model-len",
            url=url,
        )


def completion_request(
    spec: ModelSpec,
    prompt: str | list[int],
    limit: int,
    min_tokens: int,
    *,
    seed: int | None,
    add_special_tokens: bool,
    stops: list[str],
) -> CompletionRequest:
    """One segment's request with the model's sampling settings; `min_tokens` never exceeds `limit`."""
    return CompletionRequest(
        prompt=prompt,
        max_tokens=limit,
        min_tokens=min(min_tokens, limit),
        logprobs=2,
        temperature=spec.sampling.temperature,
        top_p=spec.sampling.top_p,
        top_k=spec.sampling.top_k,
        seed=seed,
        add_special_tokens=add_special_tokens,
        stop=stops,
    )


async def choose_cue_path(
    wanted: Literal["auto", "client", "server"], cues_in_use: bool, stops: list[str], large: Backend
) -> CuePath:
    """Server-side stops when the large server takes our stop list; else client-side detection.

    `cues_in_use`: a relay with at least one cue (nothing to cut on otherwise). The backend probes
    once per stop-list size; a server with vLLM's default cap of 4 stop strings answers HTTP 400 and
    the relay detects cues on the token stream instead.
    """
    if wanted == "client" or not cues_in_use:
        return "client"
    try:
        accepted = await large.accepts_stops(stops)
    except RequestRejected:
        accepted = False
    if wanted == "server" and not accepted:
        raise RequestRejected(
            f"{large.url} refuses {len(stops)} stop strings per request; start it "
            f"with VLLM_MAX_STOP_STRINGS=1024, or use client-side cue detection",
            url=large.url,
        )
    return "server" if accepted else "client"
