"""Segment: one request streamed to its cut, reporting what happened; Warmup at its named points."""

from __future__ import annotations

import asyncio

import pytest

from relaychat.backends.base import Token
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.core.cuts import CutScanner
from relaychat.core.events import CueHit, SegmentEnded, SegmentStarted, StageChanged, TokenDelta
from relaychat.core.generation import Generation
from relaychat.core.memory import WarmupMemory
from relaychat.core.plan import RelayOptions, RelayPlan, Turn
from relaychat.core.profile import load_profile
from relaychat.core.segment import NO_TURN, Segment
from relaychat.core.warmup import Warmup

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


async def opened(
    mode: str = "relay", **options: object
) -> tuple[Generation, Warmup, ScriptedBackend, ScriptedBackend, WarmupMemory]:
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 200, "answer_reserve": 40, "shared_tokenizer": False}
    )
    large, small = ScriptedBackend("http://large", name="L"), ScriptedBackend("http://small", name="S")
    relay_options = RelayOptions(mode=mode, **options)  # type: ignore[arg-type]
    plan = RelayPlan.of(profile, relay_options)
    gen = Generation(profile, plan, {"large": large, "small": small}, asyncio.get_running_loop().time)
    await gen.open(QUESTION)
    memory = WarmupMemory()
    return gen, Warmup(gen, relay_options, memory), large, small, memory


async def test_a_segment_stops_at_its_cut_keeps_what_was_shown_and_reports_it() -> None:
    gen, warmup, large, _, memory = await opened(early_start=False, prefill_ahead=False)
    large.add("We add the two. So the rest")
    segment = Segment(gen, warmup, "large", "reasoning", "start", gen.plan.turn("large", 0))
    with pytest.raises(RuntimeError):
        _ = segment.outcome  # nothing happened yet
    events = [e async for e in segment.events()]
    assert isinstance(events[0], SegmentStarted) and events[0].index == 0
    shown = "".join(e.text for e in events if isinstance(e, TokenDelta))
    assert shown == "We add the two. So"
    assert [type(e) for e in events[-2:]] == [CueHit, SegmentEnded]
    end = events[-1]
    assert isinstance(end, SegmentEnded) and (end.reason, end.tokens, end.discarded_tokens) == ("cue", 6, 1)
    outcome = segment.outcome
    assert (outcome.reason, outcome.kept, outcome.cue, outcome.answer_in_stream) == ("cue", 6, "So ", False)
    assert gen.seq.text == shown and gen.seq.tokens == 6 and large.closed_early == [True]
    assert memory.habits.likely("L", (("So", ""), ("So", ","))) == [""]  # the cut taught the habit


async def test_no_room_for_a_token_is_no_turn_and_no_events_but_the_index_is_used() -> None:
    gen, warmup, large, _, _ = await opened()
    segment = Segment(gen, warmup, "large", "reasoning", "start", Turn("cue", 0, 5))
    assert [e async for e in segment.events()] == []
    assert segment.outcome == NO_TURN and large.requests == [] and gen.segments == 1


async def test_a_single_model_stream_crosses_into_the_answer() -> None:
    gen, warmup, large, _, _ = await opened(mode="large")
    large.add(Reply(words("It is 4.\n</think>\n\nFour.")))
    segment = Segment(gen, warmup, "large", "reasoning", "start", gen.plan.turn("large", 0))
    events = [e async for e in segment.events()]
    assert any(isinstance(e, StageChanged) and e.stage == "answer" for e in events)
    stages = [e.stage for e in events if isinstance(e, TokenDelta)]
    assert stages[0] == "reasoning" and stages[-1] == "answer"
    assert segment.outcome.answer_in_stream and segment.outcome.reason == "eos"
    assert gen.seq.text == "It is 4.\n</think>\n\nFour."


async def test_a_pending_cue_sends_the_idle_model_both_possible_requests_and_no_turn_cancels_them() -> None:
    gen, warmup, _, small, _ = await opened(feed_every=10_000)
    small.default = Reply(words(" unused words here"), margin=0.5)
    small.delay = 0.01
    await warmup.prepare()
    request = gen.request("large", gen.prompt("large"), gen.next_index(), gen.plan.turn("large", 0))
    assert request is not None
    assert warmup.segment_starting("large", "reasoning", gen.prompt("large"), request) is None
    scanner = CutScanner(
        context="", detect="cue", stage="reasoning", matcher=gen.plan.matcher, marker="</think>"
    )
    for text in ["We", " add", " them", ".", " Now"]:
        scanner.add(Token(text=text))
    warmup.streamed(scanner, 5)
    for _ in range(3):
        await asyncio.sleep(0)  # the early requests go out on the loop's next turns
    question = gen.prefix_text["small"]
    assert [r.prompt for r in small.requests] == [
        question + "We add them. Now",
        question + "We add them. Now,",
    ]
    assert all(r.seed == gen.plan.request_seed(1) for r in small.requests)  # the next segment's own seed
    warmup.no_turn()
    report = warmup.segment_report()
    assert report.early_cancelled == 2 and report.feeds == 0  # early requests in flight: no feed
    totals = await warmup.finish()
    assert totals.cancelled == 0 and set(totals.wasted_tokens) == {"small"}
    await warmup.aclose()
