"""Generation: one run's prompts and shared sequence; every prompt extends the first."""

from __future__ import annotations

import itertools

from relaychat.backends.base import Token
from relaychat.backends.scripted import ScriptedBackend
from relaychat.core.generation import Generation, SharedSequence
from relaychat.core.plan import RelayOptions, RelayPlan, Turn
from relaychat.core.profile import load_profile
from relaychat.core.prompt import render_prefix

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


def generation(
    shared: bool, max_len: int | None = None
) -> tuple[Generation, ScriptedBackend, ScriptedBackend]:
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 200, "answer_reserve": 40, "shared_tokenizer": shared}
    )
    large, small = ScriptedBackend("http://large", name="L"), ScriptedBackend("http://small", name="S")
    small.vocab = large.vocab
    large.max_model_len = max_len
    ticks = itertools.count()
    gen = Generation(
        profile, RelayPlan.of(profile, RelayOptions()), {"large": large, "small": small}, lambda: next(ticks)
    )
    return gen, large, small


def test_the_shared_sequence_keeps_text_ids_counts_and_a_short_tail() -> None:
    seq = SharedSequence()
    seq.record([Token(text="Hi", id=1), Token(text=" there", id=None)], "Hi there")
    seq.extend("x" * 100, [5], 0)
    assert (seq.text, seq.ids, seq.tokens) == ("Hi there" + "x" * 100, [1, 5], 2)
    assert seq.tail == "x" * 64


async def test_text_prompts_are_the_rendered_prefix_plus_the_sequence() -> None:
    gen, _, _ = generation(shared=False)
    await gen.open(QUESTION)
    assert gen.handoff == "text" and gen.names == {"large": "L", "small": "S"}
    first = render_prefix(gen.profile.small.prompt, QUESTION)
    assert gen.prompt("small") == first
    gen.seq.extend("We add. So", [], 3)
    assert gen.prompt("small") == first + "We add. So"
    assert gen.prompt("small", [Token(text=" the")], " the") == first + "We add. So the"
    assert gen.prompt_len("small", gen.prompt("small")) is None  # unknown until a prefix is tokenized


async def test_token_id_prompts_extend_the_first_and_add_no_special_tokens() -> None:
    gen, large, _ = generation(shared=True)
    await gen.open(QUESTION)
    first = gen.prompt("large")
    assert gen.handoff == "token_ids" and isinstance(first, list)
    assert first == await large.tokenize(render_prefix(gen.profile.large.prompt, QUESTION))
    gen.seq.extend("We", [7, 8], 2)
    later = gen.prompt("large", [Token(text=" x", id=9)], " x")
    assert later == [*first, 7, 8, 9] and gen.prompt_len("large", later) == len(first) + 3
    assert gen.add_special_tokens("large", later) is False and gen.ids_in_prompt("large") == len(first) + 2


async def test_requests_are_clamped_to_the_context_and_none_when_nothing_fits() -> None:
    gen, _, _ = generation(shared=True, max_len=120)
    await gen.open(QUESTION)
    prompt = gen.prompt("large")
    request = gen.request("large", prompt, 0, Turn("cue", 500, 5))
    assert request is not None and request.max_tokens == 120 - len(prompt) - 8 and request.stop == []
    assert gen.request("large", prompt, 0, Turn("cue", 0, 5)) is None
    gen.cue_path = "server"
    served = gen.request("large", prompt, 1, Turn("cue", 5, 5))
    assert served is not None and served.stop == gen.plan.stops and served.seed != request.seed


def test_segment_indexes_gaps_and_the_appended_marker() -> None:
    gen, _, _ = generation(shared=False)
    assert [gen.next_index() for _ in range(3)] == [0, 1, 2] and gen.segments == 3
    assert gen.switch_gap(1.0, 2.0) is None  # the first segment has no gap
    assert gen.switch_gap(2.5, 3.0) == 0.5 and gen.switch_gap(None, None) is None
    assert gen.switch_gap(3.25, None) == 0.25  # a segment with no tokens leaves the last token time
    assert gen.marker_text() == "</think>\n\n"
    gen.seq.extend("It is 4.", [], 3)
    assert gen.marker_text() == "\n</think>\n\n"
