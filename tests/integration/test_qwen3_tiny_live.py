"""The production path on real vLLM servers: the qwen3-tiny pair (real Qwen3 tokenizer, format, EOS ids).

Its own session fixture starts the pair (ports 8121/8122; training it first on a fresh machine) and
stops what it started; healthy servers already on those ports are reused and left running.
`RELAYCHAT_TEST_QWEN3_PROFILE=path.toml` runs it against a copy of the profile on other ports (and, with
`RELAYCHAT_CACHE`, other models), so an experiment never reuses or stops someone else's servers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from relaychat.backends.base import CompletionRequest, StreamEnd
from relaychat.backends.vllm import VLLMBackend
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.cues import server_stop_strings
from relaychat.core.events import (
    RelayEvent,
    RunFinished,
    SegmentEnded,
    StageChanged,
    Switch,
    TokenDelta,
)
from relaychat.core.profile import PairProfile, load_profile
from relaychat.core.prompt import render_prefix
from relaychat.serving.manager import running_servers
from relaychat.tinyqwen import synthetic
from relaychat.tinyqwen.tokenizer_files import END_OF_TEXT, THINK_END, tokenizer_dir

from .recording import Recording
from .test_relay_live import completions_served, generated_total

QUESTIONS = [e.question for e in synthetic.heldout(4)]


@pytest.fixture(scope="session")
def qwen3_profile() -> Iterator[PairProfile]:
    profile = load_profile(os.environ.get("RELAYCHAT_TEST_QWEN3_PROFILE", "qwen3-tiny"))

    def progress(message: str, fraction: float | None) -> None:
        if fraction in (None, 1.0) or int((fraction or 0) * 100) % 20 == 0:
            print(f"[qwen3-tiny servers] {message}", flush=True)

    with running_servers(profile, progress, timeout=1800):
        yield profile


@dataclass
class Run:
    question: str
    events: list[RelayEvent]
    recorders: dict[str, Recording]
    generated: dict[str, float]
    exclusive: bool

    @property
    def summary(self):  # type: ignore[no-untyped-def]
        final = self.events[-1]
        assert isinstance(final, RunFinished), final
        return final.summary


async def relay(profile: PairProfile, question: str, **options: object) -> Run:
    recorders = {role: Recording(VLLMBackend(profile.spec(role).url)) for role in ("large", "small")}
    urls = {role: profile.spec(role).url for role in recorders}
    await recorders["large"].inner.accepts_stops([*server_stop_strings(profile.cues), profile.reasoning_end])
    before = {role: (completions_served(u), generated_total(u)) for role, u in urls.items()}
    opts = RelayOptions(seed=3, prefill_ahead=False, **options)  # type: ignore[arg-type]
    controller = RelayController(profile, recorders, opts)  # type: ignore[arg-type]
    events = [e async for e in controller.run([{"role": "user", "content": question}])]
    after = {role: (completions_served(u), generated_total(u)) for role, u in urls.items()}
    exclusive = all(
        before[r][0] >= 0 and after[r][0] - before[r][0] == len(recorders[r].exchanges) for r in recorders
    )
    for recorder in recorders.values():
        await recorder.aclose()
    generated = {r: after[r][1] - before[r][1] for r in recorders}
    return Run(question, events, recorders, generated, exclusive)


@pytest.fixture(scope="module")
async def runs(qwen3_profile: PairProfile) -> list[Run]:
    return [await relay(qwen3_profile, q) for q in QUESTIONS]


async def test_our_prompt_is_the_official_template_and_the_server_tokenizes_it_the_same(
    qwen3_profile: PairProfile,
) -> None:
    transformers = pytest.importorskip("transformers")
    official = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir()))
    fmt = qwen3_profile.large.prompt
    for question in QUESTIONS[:2]:
        ours = render_prefix(fmt, [{"role": "user", "content": question}])
        theirs = official.apply_chat_template(
            [{"role": "user", "content": f"{question}\n{fmt.instruction}"}],
            tokenize=False,
            add_generation_prompt=True,
        )
        assert ours == theirs + "<think>\n"
        expected = official.encode(ours, add_special_tokens=False)
        for role in ("large", "small"):
            backend = VLLMBackend(qwen3_profile.spec(role).url)
            try:
                assert await backend.tokenize(ours, add_special_tokens=False) == expected
            finally:
                await backend.aclose()


def test_every_run_ends_its_reasoning_with_think_and_answers_in_the_answer_stage(runs: list[Run]) -> None:
    for run in runs:
        stages = [e.stage for e in run.events if isinstance(e, StageChanged)]
        assert stages == ["reasoning", "answer"]
        summary = run.summary
        assert summary.reasoning_ended_by == "marker", summary.reasoning
        assert re.search(r"\\boxed\{\d+\}", summary.answer), summary.answer
        assert summary.small.answer_tokens > 0 and summary.large.answer_tokens == 0  # answer_model small


def test_relay_switches_on_the_planted_cues_and_hands_over_token_ids(runs: list[Run]) -> None:
    switched = 0
    for run in runs:
        switches = [e for e in run.events if isinstance(e, Switch)]
        switched += sum(1 for s in switches if s.to_model == "small")
        for recorder in run.recorders.values():
            prompts = [x.request.prompt for x in recorder.exchanges]
            assert prompts and all(isinstance(p, list) for p in prompts[1:]), "shared tokenizer: token ids"
        # what the large model sees next holds the small model's own token ids, unchanged
        small_ids = [
            i for e in run.events if isinstance(e, TokenDelta) and e.model == "small" for i in e.token_ids
        ]
        later = [x.request.prompt for x in run.recorders["large"].exchanges[1:]]
        if small_ids and later:
            last = later[-1]
            assert isinstance(last, list)
            joined = "," + ",".join(map(str, last)) + ","
            first_small = next(e for e in run.events if isinstance(e, TokenDelta) and e.model == "small")
            assert "," + ",".join(map(str, first_small.token_ids)) + "," in joined
    assert switched > 0, "no switch to the small model in any run"


def test_think_end_is_the_special_token_from_either_model(
    qwen3_profile: PairProfile, runs: list[Run]
) -> None:
    enders = set()
    for run in runs:
        for end in (e for e in run.events if isinstance(e, SegmentEnded)):
            if end.reason == "reasoning_end":
                enders.add(end.model)
        ids = [
            i for e in run.events if isinstance(e, TokenDelta) and e.stage == "reasoning" for i in e.token_ids
        ]
        assert THINK_END in ids
    assert enders, "no segment ended on </think>"


@pytest.mark.parametrize("mode", ["large", "small"])
async def test_each_model_alone_writes_think_end_and_an_answer(qwen3_profile: PairProfile, mode: str) -> None:
    run = await relay(qwen3_profile, QUESTIONS[0], mode=mode)
    summary = run.summary
    assert summary.reasoning_ended_by == "marker"
    ends = [e for e in run.events if isinstance(e, SegmentEnded)]
    assert {e.model for e in ends} == {mode}
    assert re.search(r"\\boxed\{\d+\}", summary.answer)


async def test_the_second_eos_id_is_reported_as_a_stop_token_and_ends_the_turn(
    qwen3_profile: PairProfile,
) -> None:
    prompt = render_prefix(qwen3_profile.large.prompt, [{"role": "user", "content": synthetic.EOT_QUESTION}])
    backend = VLLMBackend(qwen3_profile.large.url)
    try:
        request = CompletionRequest(prompt=prompt, max_tokens=40, temperature=0.0, logprobs=None)
        ends = [item async for item in backend.stream(request) if isinstance(item, StreamEnd)]
    finally:
        await backend.aclose()
    assert ends[-1].finish_reason == "stop" and ends[-1].stop_reason == END_OF_TEXT
    # The control reply is 4 tokens; the profile's min_tokens (5) would hold any EOS back until then.
    run = await relay(qwen3_profile.model_copy(update={"min_tokens": 1}), synthetic.EOT_QUESTION)
    summary = run.summary
    assert summary.reasoning_ended_by == "eos"
    assert len(run.recorders["large"].exchanges) == 1, "the large model was asked to continue after its EOS"
    assert summary.reasoning.startswith(synthetic.EOT_REPLY)


def test_token_counts_equal_the_servers_counters(runs: list[Run]) -> None:
    for run in runs:
        summary = run.summary
        for role, recorder in run.recorders.items():
            stats = summary.stats(role)  # type: ignore[arg-type]
            received = sum(x.tokens for x in recorder.exchanges)
            assert stats.tokens + stats.discarded_tokens + stats.early_wasted_tokens == received
            for exchange in recorder.exchanges:
                for end in exchange.ends:
                    if end.completion_tokens is not None:
                        assert end.completion_tokens == exchange.tokens
            aborted = sum(1 for x in recorder.exchanges if not x.ends)
            lost = run.generated[role] - received
            assert 0 <= lost <= (4 * aborted if run.exclusive else lost)
