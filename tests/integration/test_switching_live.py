"""Issue 6 on real servers: warm handoffs and early starts change nothing but speed; default stop caps work.

One extra SmolLM2 server serves both roles (one tokenizer: token-id handover), in float32 so that the
order in which the prefix cache was filled cannot flip a sampled token, and with vLLM's default cap of
4 stop strings per request.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relaychat.backends.vllm import VLLMBackend
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.cues import is_word_char
from relaychat.core.events import CueHit, RunFinished, RunSummary
from relaychat.core.profile import PairProfile, load_profile
from relaychat.serving.manager import Server, is_healthy, start, stop, wait_healthy

PORT = 8131
QUESTIONS = [
    "Sara buys 3 pens at 2 dollars each and a book for 5 dollars. How much does she spend?",
    "Tom has 12 marbles and gives away a third of them. Then he finds 5 more. How many does he have?",
]


@pytest.fixture(scope="module")
def capped_fp32_profile() -> Iterator[PairProfile]:
    base = load_profile("same-model")
    spec = base.small.model_copy(update={"urls": [f"http://127.0.0.1:{PORT}"], "port": PORT, "cpu_core": 0})
    server = Server("small", spec, dtype="float32", env={"VLLM_MAX_STOP_STRINGS": "4"})
    started = not is_healthy(spec.url)
    if started:
        start(server, log=print)
    try:
        wait_healthy([server], timeout=900, progress=lambda m, f: None)
        yield base.model_copy(update={"large": spec, "small": spec, "max_tokens": 160, "answer_reserve": 32})
    finally:
        if started:
            stop(server)


async def relay(profile: PairProfile, question: str, **options: object) -> RunSummary:
    backend = VLLMBackend(profile.large.url)
    controller = RelayController(
        profile, {"large": backend, "small": backend}, RelayOptions(seed=11, **options)
    )  # type: ignore[arg-type]
    events = [e async for e in controller.run([{"role": "user", "content": question}])]
    await backend.aclose()
    final = events[-1]
    assert isinstance(final, RunFinished), final
    for hit in (e for e in events if isinstance(e, CueHit)):
        assert not is_word_char(final.summary.reasoning[hit.offset - 1 : hit.offset] or " ")
    return final.summary


@pytest.mark.parametrize("question", QUESTIONS)
async def test_output_is_identical_with_prefill_ahead_on_and_off(
    capped_fp32_profile: PairProfile, question: str
) -> None:
    on = await relay(capped_fp32_profile, question, prefill_ahead=True, feed_every=8)
    off = await relay(capped_fp32_profile, question, prefill_ahead=False)
    assert on.prefill_feeds > 0 and off.prefill_feeds == 0
    assert (on.reasoning, on.answer) == (off.reasoning, off.answer)
    assert on.switches == off.switches


async def test_output_is_identical_with_early_starts_on_and_off(capped_fp32_profile: PairProfile) -> None:
    # Words SmolLM2 uses, so that cuts (and early starts) happen; one server serves both roles, so an
    # early start runs batched beside the stream whose cut it anticipates.
    cues = (*capped_fp32_profile.cues, "so ", "She", "The", "Then")
    early_starts = 0
    for question in QUESTIONS:
        on = await relay(capped_fp32_profile, question, cues=cues, prefill_ahead=False, early_start=True)
        off = await relay(capped_fp32_profile, question, cues=cues, prefill_ahead=False, early_start=False)
        assert off.early_starts == 0
        assert (on.reasoning, on.answer) == (off.reasoning, off.answer), question
        assert on.switches == off.switches
        early_starts += on.early_starts
    assert early_starts > 0  # a question may switch only where no cut was pending; both together do


async def test_a_server_with_the_default_stop_cap_still_relays(capped_fp32_profile: PairProfile) -> None:
    # SmolLM2 writes numbered steps; add the words it uses so that switches happen to check.
    cues = (*capped_fp32_profile.cues, "so ", "She", "The", "Then")
    summaries = [await relay(capped_fp32_profile, q, cue_detection="auto", cues=cues) for q in QUESTIONS]
    for summary in summaries:
        assert (
            summary.cue_detection == "client"
        )  # the stop list was refused (cap 4): cues found on the stream
        assert summary.reasoning_ended_by in ("marker", "budget", "eos")
    assert sum(s.switches for s in summaries) > 0 and any(s.cue_hits for s in summaries)


async def test_forcing_server_side_cues_on_a_capped_server_fails_clearly(
    capped_fp32_profile: PairProfile,
) -> None:
    backend = VLLMBackend(capped_fp32_profile.large.url)
    controller = RelayController(
        capped_fp32_profile, {"large": backend, "small": backend}, RelayOptions(cue_detection="server")
    )
    events = [e async for e in controller.run([{"role": "user", "content": QUESTIONS[0]}])]
    await backend.aclose()
    assert events[-1].type == "failed"
    assert "VLLM_MAX_STOP_STRINGS" in events[-1].error.message  # type: ignore[union-attr]
