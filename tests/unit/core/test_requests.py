"""A segment's request: sampling, clamped to the server's context; and the cue path chosen once."""

from __future__ import annotations

import pytest

from relaychat.backends.errors import PromptTooLong, RequestRejected
from relaychat.backends.scripted import ScriptedBackend
from relaychat.core.profile import load_profile
from relaychat.core.requests import (
    CONTEXT_SLACK,
    check_prompt_fits,
    choose_cue_path,
    completion_request,
    room_in_context,
)


def test_the_limit_is_clamped_to_what_fits_after_the_prompt() -> None:
    assert room_in_context(500, 100, 300) == 300 - 100 - CONTEXT_SLACK
    assert room_in_context(50, 100, 300) == 50
    assert room_in_context(500, None, 300) == 500  # length unknown
    assert room_in_context(500, 100, None) == 500  # limit unknown
    assert room_in_context(10, 95, 100) <= 0  # no room: the caller ends the turn on the context limit


def test_a_prompt_that_fills_the_context_is_refused_with_a_sentence() -> None:
    with pytest.raises(PromptTooLong, match=r"context window is 100 tokens") as caught:
        check_prompt_fits(95, 100, role="small", url="http://small")
    assert caught.value.url == "http://small" and caught.value.kind == "prompt_too_long"
    check_prompt_fits(91, 100, role="small", url="http://small")  # room for one token


def test_the_request_carries_the_models_sampling_and_never_more_min_tokens_than_tokens() -> None:
    spec = load_profile("qwen3-1.7b-32b").large
    request = completion_request(spec, [1, 2], 3, 5, seed=9, add_special_tokens=False, stops=["x"])
    assert (request.max_tokens, request.min_tokens, request.seed, request.stop) == (3, 3, 9, ["x"])
    assert (request.temperature, request.top_p, request.top_k) == (
        spec.sampling.temperature,
        spec.sampling.top_p,
        spec.sampling.top_k,
    )
    assert request.prompt == [1, 2] and request.add_special_tokens is False and request.logprobs == 2


async def test_cues_go_to_the_server_when_it_takes_the_list() -> None:
    stops = [f"s{i}" for i in range(10)]
    roomy, capped = ScriptedBackend("http://a", max_stops=None), ScriptedBackend("http://b", max_stops=4)
    assert await choose_cue_path("auto", True, stops, roomy) == "server"
    assert await choose_cue_path("auto", True, stops, capped) == "client"
    assert await choose_cue_path("client", True, stops, roomy) == "client"
    assert await choose_cue_path("server", False, stops, roomy) == "client"  # no cues: nothing to send


async def test_asking_for_server_cues_from_a_capped_server_fails_clearly() -> None:
    with pytest.raises(RequestRejected, match="refuses 10 stop strings"):
        await choose_cue_path("server", True, [f"s{i}" for i in range(10)], ScriptedBackend("http://b"))
