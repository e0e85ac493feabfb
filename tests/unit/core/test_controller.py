"""The relay state machine on scripted backends: cuts, handoffs, budgets, stages, failures."""

from __future__ import annotations

import pytest

from relaychat.backends.errors import ServerUnreachable
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.events import (
    CueHit,
    RelayEvent,
    RunFailed,
    RunFinished,
    SegmentEnded,
    SegmentStarted,
    StageChanged,
    Switch,
    TokenDelta,
)
from relaychat.core.generation import missing_separator
from relaychat.core.memory import WarmupMemory
from relaychat.core.profile import PairProfile, load_profile
from relaychat.core.prompt import render_prefix

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


def profile(**update: object) -> PairProfile:
    base = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 200, "answer_reserve": 40, "shared_tokenizer": False, "small_max_tokens": 30}
    )
    return base.model_copy(update=update)


def pair() -> tuple[ScriptedBackend, ScriptedBackend]:
    return ScriptedBackend("http://large", name="L"), ScriptedBackend("http://small", name="S")


async def run(
    p: PairProfile, large: ScriptedBackend, small: ScriptedBackend, **opts: object
) -> list[RelayEvent]:
    controller = RelayController(p, {"large": large, "small": small}, RelayOptions(**opts))  # type: ignore[arg-type]
    return [event async for event in controller.run(QUESTION)]


def of(events: list[RelayEvent], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


async def test_relay_switches_at_cue_and_returns_at_sentence_end() -> None:
    large, small = pair()
    large.add("Let me add the numbers. So the", "\n</think>\n\n")
    small.add(" the sum is 4. Next")
    small.add(Reply(words("The answer is \\boxed{4}.")))
    events = await run(profile(), large, small)
    final = events[-1]
    assert isinstance(final, RunFinished)
    summary = final.summary
    assert [e.cue for e in of(events, CueHit)] == ["So "]
    assert [(s.from_model, s.to_model, s.reason) for s in of(events, Switch)] == [
        ("large", "small", "cue"),
        ("small", "large", "sentence_end"),
    ]
    ends = of(events, SegmentEnded)
    assert [(e.model, e.reason, e.tokens, e.discarded_tokens) for e in ends] == [
        ("large", "cue", 7, 1),  # " the" after " So" confirmed the boundary, then was dropped
        ("small", "sentence_end", 5, 1),  # " Next" confirmed the sentence end
        # "\n", "</think>", then the stream is closed; it was started early (at "4."), and the scripted
        # server had already streamed the "\n\n" after the marker: dropped, and counted as such.
        ("large", "reasoning_end", 2, 1),
        ("small", "eos", len(words("The answer is \\boxed{4}.")), 0),
    ]
    # The stream stopped at the marker; the relay adds the blank line the templates put after it, so the
    # answer model continues from "</think>\n\n" (a model that does not reason answers nothing otherwise).
    assert summary.reasoning == "Let me add the numbers. So the sum is 4.\n</think>\n\n"
    stage = [e for e in of(events, StageChanged) if e.stage == "answer"]
    assert [(e.appended_marker, e.inserted_text) for e in stage] == [(False, "\n\n")]
    assert small.requests[-1].prompt.endswith("4.\n</think>\n\n")  # type: ignore[union-attr]
    assert summary.answer == "The answer is \\boxed{4}."
    assert summary.reasoning_ended_by == "marker"
    assert summary.large.tokens == 9 and summary.small.tokens == 5 + 9
    assert summary.cue_hits == {"So ": 1}


async def test_every_prompt_extends_the_first_and_holds_only_kept_text() -> None:
    large, small = pair()
    large.add("We add two and two. So the", "\n</think>\n\n")
    small.add(" the sum is 4. Next", "Four.")
    p = profile()
    await run(p, large, small, early_start=False)  # an early start may read its whole reply before adoption
    first_large = render_prefix(p.large.prompt, QUESTION)
    first_small = render_prefix(p.small.prompt, QUESTION)
    assert [r.prompt for r in large.requests] == [
        first_large,
        first_large + "We add two and two. So the sum is 4.",
    ]
    assert [r.prompt for r in small.requests] == [
        first_small + "We add two and two. So",
        first_small + "We add two and two. So the sum is 4.\n</think>\n\n",
    ]
    assert large.closed_early == [True, True] and small.closed_early == [True, False]


async def test_token_ids_are_handed_over_when_tokenizers_match() -> None:
    large, small = pair()
    large.vocab = small.vocab  # one tokenizer
    large.add("We add two and two. So the", "\n</think>\n\n")
    small.add(" the sum is 4. Next", "Four.")
    await run(profile(shared_tokenizer=True), large, small)
    prompts = [large.requests[0].prompt, small.requests[0].prompt, large.requests[1].prompt]
    assert all(isinstance(p, list) for p in prompts)
    first = prompts[0]
    assert prompts[1][: len(first)] == first and prompts[2][: len(prompts[1])] == prompts[1]
    vocab = {v: k for k, v in large.vocab.items()}
    handed = "".join(vocab[i] for i in prompts[2][len(first) :])  # type: ignore[index]
    assert handed == "We add two and two. So the sum is 4."
    assert all(r.add_special_tokens is False for r in large.requests + small.requests)


async def test_cue_inside_min_tokens_does_not_switch() -> None:
    large, small = pair()
    large.add("Now, we add two and two. So the", "</think>")
    small.add(" the sum. Ok", "4")
    events = await run(profile(min_tokens=5), large, small)
    assert [e.cue for e in of(events, CueHit)] == ["So "]  # "Now," ended at token 2 < min_tokens


async def test_cues_inside_words_do_not_switch() -> None:
    large, small = pair()
    large.add(
        "We know it. Anyway, Otherwise nothing.\n</think>",
    )
    small.add("4")
    events = await run(profile(cues=["now", "Any", "Other"]), large, small)
    assert of(events, CueHit) == [] and of(events, Switch) == []


async def test_small_turn_is_capped() -> None:
    large, small = pair()
    large.add("We add two and two. So the", "</think>")
    small.add(Reply([" x"] * 50), "4")
    events = await run(profile(small_max_tokens=10), large, small)
    ends = of(events, SegmentEnded)
    assert (ends[1].model, ends[1].reason, ends[1].tokens) == ("small", "small_limit", 10)
    assert small.requests[0].max_tokens == 10


async def test_budget_ends_reasoning_and_the_reserve_pays_for_the_answer() -> None:
    large, small = pair()
    large.add(Reply([" blah"] * 500))
    small.add(Reply([" ok"] * 500))
    events = await run(profile(max_tokens=100, answer_reserve=30), large, small)
    stage = next(e for e in of(events, StageChanged) if e.stage == "answer")
    assert stage.appended_marker and "</think>" in stage.inserted_text
    summary = events[-1].summary  # type: ignore[union-attr]
    assert summary.large.reasoning_tokens == 70 and summary.small.answer_tokens == 30
    assert summary.reasoning_ended_by == "budget" and summary.answer == " ok" * 30
    assert summary.reasoning.endswith("</think>\n\n")


async def test_end_of_text_in_reasoning_appends_the_marker() -> None:
    large, small = pair()
    large.add("We are done.")
    small.add("Four.")
    events = await run(profile(), large, small)
    summary = events[-1].summary  # type: ignore[union-attr]
    assert summary.reasoning_ended_by == "eos"
    assert summary.reasoning == "We are done.\n</think>\n\n" and summary.answer == "Four."
    assert small.requests[0].prompt.endswith("We are done.\n</think>\n\n")  # type: ignore[union-attr]


async def test_a_stop_token_id_ends_the_reasoning_like_end_of_text() -> None:
    # vLLM 0.32 reports Qwen3's second EOS id (151643, from generation_config) as an integer stop_reason;
    # it is the end of the text, not a stop string to resume after with the same model.
    large, small = pair()
    large.add(Reply(words("We are done."), stop_reason=151643))
    small.add("Four.")
    events = await run(profile(), large, small)
    summary = events[-1].summary  # type: ignore[union-attr]
    assert [e.reason for e in of(events, SegmentEnded)] == ["eos", "eos"]
    assert len(large.requests) == 1
    assert summary.reasoning_ended_by == "eos"
    assert summary.reasoning == "We are done.\n</think>\n\n" and summary.answer == "Four."


async def test_single_model_mode_changes_stage_inside_one_request() -> None:
    large, small = pair()
    large.add("Now, so. Thus 4.\n</think>\n\nThe answer is 4.")
    events = await run(profile(), large, small, mode="large")
    assert len(large.requests) == 1 and small.requests == []
    assert of(events, Switch) == [] and of(events, CueHit) == []
    deltas = of(events, TokenDelta)
    assert {d.model for d in deltas} == {"large"}
    summary = events[-1].summary  # type: ignore[union-attr]
    assert summary.reasoning == "Now, so. Thus 4.\n</think>" and summary.answer == "\n\nThe answer is 4."


async def test_answer_model_is_a_setting() -> None:
    large, small = pair()
    large.add("Done.\n</think>", "Large answers.")
    events = await run(profile(), large, small, answer_model="large")
    assert events[-1].summary.answer == "Large answers." and small.requests == []  # type: ignore[union-attr]


async def test_failure_mid_run_reports_and_keeps_what_was_written() -> None:
    large, small = pair()
    large.add("We add two and two. So the")
    small.add(
        Reply(
            words(" the sum"),
            fail_after=1,
            error=ServerUnreachable("cannot connect to http://small", url="http://small"),
        )
    )
    events = await run(profile(), large, small)
    failed = events[-1]
    assert isinstance(failed, RunFailed)
    assert failed.error.kind == "connection" and failed.error.model == "small"
    assert "cannot connect" in failed.error.message
    assert failed.summary.large.tokens == 7 and failed.summary.small.tokens == 1


async def test_closing_the_run_closes_the_stream() -> None:
    large, small = pair()
    large.add(Reply([" word"] * 100))
    controller = RelayController(profile(), {"large": large, "small": small})
    agen = controller.run(QUESTION)
    seen = 0
    async for event in agen:
        if isinstance(event, TokenDelta):
            seen += 1
            if seen == 3:
                break
    await agen.aclose()
    assert large.closed_early == [True]


async def test_segments_start_with_their_trigger_and_seeds_differ() -> None:
    large, small = pair()
    large.add("We add two and two. So the", "</think>")
    small.add(" the sum. Ok", "4")
    events = await run(profile(seed=7), large, small)
    starts = of(events, SegmentStarted)
    assert [(s.model, s.trigger, s.cue) for s in starts] == [
        ("large", "start", None),
        ("small", "cue", "So "),
        ("large", "sentence_end", None),
        ("small", "reasoning_end", None),
    ]
    seeds = [r.seed for r in large.requests + small.requests]
    assert len(set(seeds)) == len(seeds)
    assert large.requests[1].min_tokens == 5 and small.requests[0].min_tokens == 0


async def test_context_limit_clamps_requests() -> None:
    large, small = pair()
    small.vocab = large.vocab
    large.max_model_len = small.max_model_len = 120
    large.add("Done.\n</think>")
    small.add("4")
    await run(profile(shared_tokenizer=True), large, small)
    first = large.requests[0]
    assert isinstance(first.prompt, list)
    # The reasoning leaves the answer model room: the marker (8), and the reserve (40, at most half of
    # what the window leaves the question); the answer then has the window to itself.
    room = 120 - len(first.prompt)
    assert first.max_tokens == room - 8 - 8 - min(40, room // 2)
    answer = small.requests[-1]
    assert isinstance(answer.prompt, list)
    assert answer.max_tokens == 120 - len(answer.prompt) - 8


async def test_prompt_longer_than_the_context_fails_clearly() -> None:
    large, small = pair()
    small.vocab = large.vocab
    large.max_model_len = small.max_model_len = 20
    events = await run(profile(shared_tokenizer=True), large, small)
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.error.model == "large"
    assert failed.error.kind == "prompt_too_long"
    assert "context window is 20 tokens" in failed.error.message
    assert large.requests == []


async def test_prefill_ahead_feeds_the_idle_server_with_what_it_will_be_sent() -> None:
    large, small = pair()
    large.delay = 0.001  # a real stream yields to the event loop between tokens
    long_sentence = "We add the first pair of numbers and then we carry on adding every other pair of numbers"
    large.add(long_sentence + " here. So the", "</think>")
    small.add(" the sum is 4. Next", "4")
    events = await run(profile(), large, small, feed_every=4, early_start=False)
    assert small.prefills, "the small server was never fed"
    first_small_prompt = small.requests[0].prompt
    assert isinstance(first_small_prompt, str)
    ids = await small.tokenize(first_small_prompt)
    # The question and a cut about to be confirmed go out whole as text; routine feeds are the server's
    # own token ids of what it will be sent, cut to whole blocks (feed_every=4), each one block further.
    whole = [fed for fed in small.prefills if isinstance(fed, str)]
    routine = [fed for fed in small.prefills if isinstance(fed, list)]
    assert whole and all(first_small_prompt.startswith(fed) for fed in whole)
    assert routine, "no routine feed while the large model wrote"
    for fed in routine:
        assert len(fed) % 4 == 0 and fed == ids[: len(fed)]
    assert [len(f) for f in routine] == sorted({len(f) for f in routine})
    summary = events[-1].summary  # type: ignore[union-attr]
    assert 0 < summary.prefill_feeds <= len(small.prefills) + len(large.prefills)


async def test_prefill_ahead_off_and_slow_feeds_do_not_change_the_output() -> None:
    async def generate(**opts: object) -> tuple[str, str]:
        large, small = pair()
        small.prefill_delay = 0.05  # a feed still in flight when the turn comes: it is cancelled
        large.add("We add the first pair of numbers and then the second pair here. So the", "</think>")
        small.add(" the sum is 4. Next", "Four.")
        events = await run(profile(), large, small, **opts)
        summary = events[-1].summary  # type: ignore[union-attr]
        return summary.reasoning, summary.answer

    assert await generate(prefill_ahead=True, feed_every=2) == await generate(prefill_ahead=False)


async def test_no_feeds_in_single_model_mode() -> None:
    large, small = pair()
    large.add("We add the first pair of numbers and then the second pair here.\n</think>\n\n4")
    await run(profile(), large, small, mode="large", feed_every=2)
    assert large.prefills == [] and small.prefills == []


async def test_a_cue_waiting_for_its_boundary_warms_the_receiver_with_its_exact_prompt() -> None:
    large, small = pair()
    large.delay = 0.002
    small.prefill_delay = 0.3  # still prefilling when the real request comes: it is kept, not cancelled
    large.add("We add the numbers one by one here. So the", "</think>")
    small.add(" the sum is 4. Next", "4")
    events = await run(
        profile(), large, small, feed_every=10_000, early_start=False
    )  # only anticipation feeds
    p = profile()
    assert small.prefills == [render_prefix(p.small.prompt, QUESTION), small.requests[0].prompt]
    ends = of(events, SegmentEnded)
    assert ends[0].prefill_cancelled == 1  # the start feed, still running, was replaced by the urgent one
    assert ends[1].prefill_cancelled == 0  # and the urgent one was kept when the small model's turn began


async def test_no_anticipation_for_a_cue_inside_min_tokens_or_a_non_cue() -> None:
    large, small = pair()
    large.delay = 0.002
    large.add("So the numbers are added here and there without end.\n</think>", "")
    small.add("4")
    await run(profile(), large, small, feed_every=10_000)
    assert small.prefills == [render_prefix(profile().small.prompt, QUESTION)]  # only the start feed


def test_pending_cue_at_the_end_of_text() -> None:
    from relaychat.core.cues import CueMatcher

    matcher = CueMatcher.of(["So ", "Now", "Now,", "Thus,"])
    assert matcher.pending("It is 4. So") == (("So", ""),)  # a space next confirms "So ": cut after "So"
    assert matcher.pending("It is 4. Now") == (("Now", ""), ("Now", ","))  # "Now" or "Now,": cut after either
    assert matcher.pending("It is 4. Thus") == (("Thus", ","),)  # "Thus," only with its comma
    assert matcher.pending("It is 4. Now,") == ()  # already confirmed: a cut, not pending
    assert matcher.pending("We know") == ()  # inside a word
    assert matcher.pending("So we") == ()
    assert matcher.suffixes == {"", ","}


async def test_a_possible_sentence_end_warms_the_large_server_with_its_exact_prompt() -> None:
    large, small = pair()
    large.delay = small.delay = 0.002
    large.add("We add the numbers one by one here. So the", "</think>")
    small.add(" the sum is 4. Next", "4")
    await run(profile(), large, small, feed_every=10_000, early_start=False)
    assert large.requests[1].prompt in large.prefills  # fed right after "4." before " Next" confirmed it


def test_sentence_end_suffixes() -> None:
    from relaychat.core.sentences import sentence_end_suffixes as pending

    assert pending("It is 4.") == pending("Why?") == ("",)  # white space next ends the sentence here
    assert pending("Steps:\n") == ("\n",)  # a blank line next ends it after that newline
    assert pending("It is 4") == pending("4. Next") == pending("Steps:\n\n") == ()
    assert pending("We list:\n2.") == pending("see e.g.") == pending("so 5!") == ()  # never sentence ends


async def test_the_small_server_reads_the_prompt_while_the_large_model_starts() -> None:
    large, small = pair()
    large.delay = 0.002
    large.add("We add the numbers one by one here. So the", "</think>")
    small.add(" the sum is 4. Next", "4")
    p = profile()
    await run(p, large, small, feed_every=10_000, early_start=False)
    assert small.prefills[0] == render_prefix(p.small.prompt, QUESTION)


async def test_a_pending_cut_sends_the_receiver_its_exact_request_early() -> None:
    large, small = pair()
    large.delay = small.delay = 0.002
    large.add("We add the numbers one by one here. So the")
    large.replies_after = {"4.": Reply(["</think>"])}
    small.replies_after = {" So": Reply(words(" the sum is 4. Next")), "</think>": Reply(["4"])}
    small.default = Reply(words(" unused words"))
    events = await run(profile(), large, small, feed_every=10_000)
    starts = [(e.model, e.early_start) for e in of(events, SegmentEnded)]
    # small after "So" (confirmed by " the"), large after "4." (confirmed by " Next"); the answer starts late
    assert starts == [("large", False), ("small", True), ("large", True), ("small", False)]
    summary = events[-1].summary  # type: ignore[union-attr]
    # "So" was sent twice ahead: for "So " (kept) and for "So," (cancelled when " the" came).
    assert [r.prompt[-4:] for r in small.requests] == [". So", " So,", "k>\n\n"]  # type: ignore[index]
    assert summary.early_starts == 2 and summary.early_cancelled == 1
    assert len(large.requests) == 2  # the large model's turn went out once, ahead of time
    assert summary.reasoning == "We add the numbers one by one here. So the sum is 4.</think>\n\n"


async def test_early_starts_do_not_change_the_output() -> None:
    async def generate(**opts: object) -> tuple[str, str, list[object]]:
        large, small = pair()
        large.delay = small.delay = 0.001
        large.add(Reply(["We", " add", ".", " So", "me", " more", ".", " So", " the"]), "</think>")
        small.default = Reply(words(" the sum is 4. Next"))
        events = await run(profile(), large, small, **opts)
        summary = events[-1].summary  # type: ignore[union-attr]
        return summary.reasoning, summary.answer, [r.prompt for r in large.requests]

    on, off = await generate(early_start=True), await generate(early_start=False)
    assert on[:2] == off[:2]
    assert on[2] == off[2]  # the large model was asked exactly the same things


async def test_an_early_start_whose_cut_does_not_come_is_cancelled() -> None:
    large, small = pair()
    large.delay = small.delay = 0.002
    # " So" waits for its boundary; "me" makes it "Some": no cue, the early request to small is cancelled.
    large.add(Reply(["We", " add", " the", " numbers", ".", " So", "me", " more", ".", " So", " the"]))
    large.replies_after = {"4.": Reply(["</think>"])}
    small.replies_after = {"</think>": Reply(["4"]), "So": Reply(words(" the sum is 4. Next"))}
    small.default = Reply(words(" wasted words that nobody reads here"))
    events = await run(profile(), large, small, feed_every=10_000)
    summary = events[-1].summary  # type: ignore[union-attr]
    # Four early requests to small: "So"/"So," twice; the first pair and the second's "So," were cancelled.
    assert summary.early_cancelled == 3 and summary.early_starts == 2
    assert small.closed_early[0] is True  # the server was hung up on
    assert "wasted" not in summary.reasoning
    assert summary.reasoning == "We add the numbers. Some more. So the sum is 4.</think>\n\n"
    assert 0 <= summary.early_wasted_tokens <= len(words(" wasted words that nobody reads here"))


async def test_once_a_model_shows_how_it_ends_a_cue_only_that_ending_is_started_early() -> None:
    memory = WarmupMemory()  # what the session's controllers learn, shared between its runs

    async def one_run() -> list[str]:
        large, small = pair()
        large.delay = small.delay = 0.002
        large.add(Reply(["We", " add", " the", " numbers", " here", ".", " So", ",", " we"]))
        large.replies_after = {"4.": Reply(["</think>"])}
        small.replies_after = {"</think>": Reply(["4"]), "So,": Reply(words(" the sum is 4. Next"))}
        small.default = Reply(words(" never read"))
        options = RelayOptions(feed_every=10_000)
        controller = RelayController(profile(), {"large": large, "small": small}, options, memory)
        _ = [event async for event in controller.run(QUESTION)]
        return [r.prompt[-3:] for r in small.requests[:-1]]  # type: ignore[index]

    assert await one_run() == [" So", "So,"]  # no habit yet: both endings go out
    assert await one_run() == ["So,"]  # it wrote "So," last time: only that one


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("So 4.\n</think>", "\n\n"),  # the stream stopped at the marker: the whole blank line
        ("So 4.\n</think>\n", "\n"),  # the marker's token brought one newline
        ("So 4.\n</think>\n\n", ""),  # already there
        ("So 4.\n</think> The answer", ""),  # the answer has begun: nothing is inserted into it
        ("no marker in sight", "\n\n"),
    ],
)
def test_the_blank_line_after_a_written_marker_is_added_once(text: str, missing: str) -> None:
    assert missing_separator(text, "</think>") == missing


async def test_the_blank_line_after_the_marker_goes_to_the_answer_model_as_token_ids() -> None:
    large, small = pair()
    large.vocab = small.vocab  # one tokenizer: ids are handed over
    large.add("We add two and two. So the", "\n</think>")
    small.add(" the sum is 4. Next", "Four.")
    await run(profile(shared_tokenizer=True), large, small)
    answer = small.requests[-1].prompt
    assert isinstance(answer, list)
    vocab = {v: k for k, v in small.vocab.items()}
    assert "".join(vocab[i] for i in answer[-3:]).endswith("</think>\n\n")
