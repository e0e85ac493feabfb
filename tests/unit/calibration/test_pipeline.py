"""The calibration pipeline on scripted backends: resumable state, retries, failures never dropped."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from relaychat.backends.base import PromptScores
from relaychat.backends.errors import ServerFailed
from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.calibration.pipeline import PipelineSettings, run_pipeline, scores_log, traces_log
from relaychat.calibration.store import JsonlLog, StateError
from relaychat.core.profile import PairProfile, load_profile
from relaychat.core.prompt import render_prefix
from relaychat.evaluation.datasets import Problem
from relaychat.relay import open_relay

TRACE = "First, x is 2. Now, we add 3 to it. So the sum is 5.\n</think>\n\nThe answer is 5."
PROBLEMS = [
    Problem(id="0", question="What is 2 + 3?", answer=""),
    Problem(id="1", question="What is 1 + 4?", answer=""),
]


class Scorer(ScriptedBackend):
    """A small model whose prompt scores are consistent with its tokenizer: a margin per token text."""

    fail_first: int = 0

    async def score(self, prompt: str | list[int], top_k: int = 20) -> PromptScores:
        if self.fail_first > 0:
            self.fail_first -= 1
            raise ServerFailed("scripted scoring failure", url=self.url)
        assert isinstance(prompt, list)
        texts = {v: k for k, v in self.vocab.items()}
        pieces = [texts[i] for i in prompt]
        tops: list[dict[str, float] | None] = [None]
        for piece in pieces[1:]:
            p1 = 0.9 if piece.strip().isalpha() else 0.5
            tops.append({"1": math.log(p1), "2": math.log((1 - p1) / 2)})
        return PromptScores(token_ids=prompt, top_logprobs=tops, tokens=pieces)


def setup(
    tmp_path: Path, **overrides: object
) -> tuple[PipelineSettings, PairProfile, ScriptedBackend, Scorer]:
    profile = load_profile("cpu-demo")
    large = ScriptedBackend("http://large", name="L", default=Reply(words(TRACE)))
    small = Scorer("http://small", name="S")
    settings = PipelineSettings(
        out=tmp_path / "calib",
        problems=PROBLEMS,
        samples=2,
        max_tokens=60,
        concurrency=1,
        score_concurrency=1,
        retries=1,
        identity={"seed": 0},
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings, profile, large, small


async def test_every_item_is_traced_scored_and_saved(tmp_path: Path) -> None:
    settings, profile, large, small = setup(tmp_path)
    progress: list[tuple[str, int, int]] = []
    result = await run_pipeline(
        settings,
        open_relay(profile, backends={"large": large, "small": small}, policy=None),
        lambda *a: progress.append(a),
    )
    assert sorted(result.traces) == ["0-s0", "0-s1", "1-s0", "1-s1"] == sorted(result.scores)
    assert not result.failures and result.resumed == 0
    record = result.traces["0-s0"]
    assert record.reasoning == TRACE.split("</think>")[0] and record.ended_by == "marker"
    assert len({r.seed for r in result.traces.values()}) == 4  # a distinct seed per item
    # the small model was scored on its own chat template + the trace; prefix positions are skipped
    scored = result.scores["0-s0"]
    prefix = render_prefix(profile.small.prompt, [{"role": "user", "content": PROBLEMS[0].question}])
    assert scored.prefix_tokens == len(words(prefix))
    assert len(scored.margins) == len(words(record.reasoning))
    assert record.reasoning[scored.starts[1] : scored.ends[1]] == words(record.reasoning)[1]
    assert ("traces", 4, 4) in progress and ("scores", 4, 4) in progress
    assert len(list(traces_log(settings.out).records())) == 4 == len(list(scores_log(settings.out).records()))


async def test_a_rerun_skips_finished_work(tmp_path: Path) -> None:
    settings, profile, large, small = setup(tmp_path)
    await run_pipeline(settings, open_relay(profile, backends={"large": large, "small": small}, policy=None))
    asked = len(large.requests)
    again = await run_pipeline(
        settings, open_relay(profile, backends={"large": large, "small": small}, policy=None)
    )
    assert again.resumed == 4 and len(large.requests) == asked
    # more samples later: only the new items are generated
    settings.samples = 3
    more = await run_pipeline(
        settings, open_relay(profile, backends={"large": large, "small": small}, policy=None)
    )
    assert len(more.scores) == 6 and len(large.requests) == asked + 2


async def test_failed_items_are_retried_then_reported_and_redone_on_rerun(tmp_path: Path) -> None:
    settings, profile, large, small = setup(tmp_path, retries=1)
    small.fail_first = 1  # first attempt fails, the retry succeeds
    result = await run_pipeline(
        settings, open_relay(profile, backends={"large": large, "small": small}, policy=None)
    )
    assert not result.failures and len(result.scores) == 4

    settings, profile, large, small = setup(tmp_path / "second", retries=0)
    large.add(Reply(words(TRACE), fail_after=3, error=ServerFailed("boom", url="http://large")))
    result = await run_pipeline(
        settings, open_relay(profile, backends={"large": large, "small": small}, policy=None)
    )
    assert [(f.key, f.stage) for f in result.failures] == [("0-s0", "traces")]
    assert len(result.scores) == 3
    rerun = await run_pipeline(
        settings, open_relay(profile, backends={"large": large, "small": small}, policy=None)
    )
    assert not rerun.failures and len(rerun.scores) == 4 and rerun.resumed == 3


async def test_saved_work_from_other_settings_is_refused(tmp_path: Path) -> None:
    settings, profile, large, small = setup(tmp_path)
    await run_pipeline(settings, open_relay(profile, backends={"large": large, "small": small}, policy=None))
    settings.identity = {"seed": 1}
    with pytest.raises(StateError, match="other settings"):
        await run_pipeline(
            settings, open_relay(profile, backends={"large": large, "small": small}, policy=None)
        )


async def test_saved_work_from_another_model_is_refused(tmp_path: Path) -> None:
    settings, profile, large, small = setup(tmp_path)
    await run_pipeline(settings, open_relay(profile, backends={"large": large, "small": small}, policy=None))
    large.name = "another-model"
    with pytest.raises(StateError, match="another-model"):
        await run_pipeline(
            settings, open_relay(profile, backends={"large": large, "small": small}, policy=None)
        )


def test_a_torn_last_line_is_ignored_and_the_next_append_parses(tmp_path: Path) -> None:
    log = JsonlLog(tmp_path / "x.jsonl")
    log.append({"key": "a"})
    with log.path.open("a") as handle:
        handle.write('{"key": "b", "trunc')  # killed mid-write
    assert [r["key"] for r in log.records()] == ["a"]
    log.append({"key": "c"})  # the torn line is cut off, so the file stays valid
    assert [json.loads(line)["key"] for line in log.path.read_text().splitlines()] == ["a", "c"]
    assert [r["key"] for r in log.records()] == ["a", "c"]
    with pytest.raises(StateError, match="corrupt"):
        log.path.write_text('{"key": "a"}\n{bad\n{"key": "c"}\n')
        list(log.records())
