"""Requests sized to the servers' context windows: the reasoning ends when the window fills, the answer
ends with `context_limit`, and a question too long for the window is one clear error."""

from __future__ import annotations

from relaychat.backends.scripted import ScriptedBackend, words
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.events import RelayEvent, RunFailed, RunFinished, SegmentEnded, StageChanged
from relaychat.core.profile import PairProfile, load_profile

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
LONG_REASONING = " ".join(["we keep adding numbers without any cue word at all"] * 40)


def profile(**update: object) -> PairProfile:
    base = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 2000, "answer_reserve": 100, "shared_tokenizer": True, "small_max_tokens": 30}
    )
    return base.model_copy(update=update)


def pair(window: int | None) -> tuple[ScriptedBackend, ScriptedBackend]:
    large = ScriptedBackend("http://large", name="L", max_model_len=window)
    small = ScriptedBackend("http://small", name="S", max_model_len=window, vocab=large.vocab)
    return large, small


async def run(
    p: PairProfile, large: ScriptedBackend, small: ScriptedBackend, **opts: object
) -> list[RelayEvent]:
    controller = RelayController(p, {"large": large, "small": small}, RelayOptions(**opts))  # type: ignore[arg-type]
    return [event async for event in controller.run(QUESTION)]


def _fits(backend: ScriptedBackend) -> None:
    for request in backend.requests:
        count = len(request.prompt) if isinstance(request.prompt, list) else len(words(request.prompt))
        assert count + request.max_tokens <= (backend.max_model_len or 0)


async def test_the_large_model_reaching_the_window_ends_the_reasoning_and_the_small_model_answers() -> None:
    large, small = pair(300)
    large.add(LONG_REASONING)
    small.add("The answer is 4.")
    events = await run(profile(), large, small)
    final = events[-1]
    assert isinstance(final, RunFinished), final
    ends = [e for e in events if isinstance(e, SegmentEnded)]
    assert [(e.model, e.reason) for e in ends] == [("large", "context_limit"), ("small", "eos")]
    marker = [e for e in events if isinstance(e, StageChanged) and e.stage == "answer"]
    assert marker[0].appended_marker and "</think>" in marker[0].inserted_text
    assert final.summary.answer == "The answer is 4."
    assert final.summary.reasoning_ended_by == "context_limit"
    _fits(large)
    _fits(small)


async def test_the_answer_reaching_its_window_finishes_with_context_limit() -> None:
    large, small = pair(300)
    large.add("We add. </think>")
    small.add(LONG_REASONING)
    events = await run(profile(), large, small)
    final = events[-1]
    assert isinstance(final, RunFinished), final
    assert final.summary.finish_reason == "context_limit"
    assert final.summary.answer.startswith("we keep adding")
    _fits(small)


async def test_single_model_mode_keeps_room_for_the_answer() -> None:
    large, small = pair(300)
    large.add(LONG_REASONING)
    large.add("The answer is 4.")
    events = await run(profile(), large, small, mode="large")
    final = events[-1]
    assert isinstance(final, RunFinished), final
    assert final.summary.reasoning_ended_by == "context_limit"
    assert final.summary.answer == "The answer is 4."
    _fits(large)


async def test_text_handoffs_are_sized_from_estimates_and_a_refusal_still_ends_cleanly() -> None:
    large, small = pair(300)
    large.add(LONG_REASONING)
    small.add("The answer is 4.")
    events = await run(profile(shared_tokenizer=False), large, small)
    final = events[-1]
    assert isinstance(final, RunFinished), final
    assert final.summary.answer == "The answer is 4."
    _fits(large)
    _fits(small)


async def test_a_question_longer_than_the_window_is_one_error_before_any_generation() -> None:
    large, small = pair(50)
    events = await run(profile(), large, small)
    assert len(events) == 1
    failed = events[0]
    assert isinstance(failed, RunFailed)
    assert failed.error.kind == "prompt_too_long" and failed.error.model == "large"
    assert "context window is 50 tokens" in failed.error.message
    assert large.requests == [] and small.requests == []


async def test_a_profile_override_wins_over_the_servers_window() -> None:
    large, small = pair(None)
    large.add(LONG_REASONING)
    small.add("The answer is 4.")
    p = profile()
    p = p.model_copy(update={"large": p.large.model_copy(update={"max_model_len": 300})})
    events = await run(p, large, small)
    final = events[-1]
    assert isinstance(final, RunFinished), final
    assert final.summary.reasoning_ended_by == "context_limit"
    assert max(r.max_tokens + len(r.prompt) for r in large.requests) <= 300
