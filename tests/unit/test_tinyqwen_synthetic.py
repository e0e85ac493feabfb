"""The synthetic traces: seeded, arithmetic right, cues planted as documented, held-out never trained on."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from relaychat.calibration.candidates import CANDIDATE_POOL
from relaychat.core.cues import CueMatcher
from relaychat.core.profile import load_profile
from relaychat.core.prompt import render_prefix
from relaychat.evaluation.datasets import dataset_file, load_dataset
from relaychat.serving.models import ConversionError, ensure_model
from relaychat.tinyqwen import synthetic
from relaychat.tinyqwen.truth import planted_kind, recovery

SUM = re.compile(r"(\d+) ([-+*]) (\d+) = (\d+)")


def test_the_same_seed_gives_the_same_problems_and_another_seed_others() -> None:
    a, b = synthetic.examples(7, 20), synthetic.examples(7, 20)
    assert a == b
    assert {e.question for e in a}.isdisjoint({e.question for e in synthetic.examples(8, 20)})


def test_every_written_calculation_is_right_and_the_answer_is_the_last_value() -> None:
    for example in synthetic.examples(1, 300):
        found = SUM.findall(example.reasoning)
        assert len(found) >= 3
        for left, op, right, result in found:
            x, y, z = int(left), int(right), int(result)
            assert {"+": x + y, "-": x - y, "*": x * y}[op] == z
            assert 0 <= z <= 99
        assert int(found[-1][3]) == example.answer
        assert f"\\boxed{{{example.answer}}}" in example.answer_text


def test_only_the_planted_cues_occur_among_the_91_candidates() -> None:
    matcher = CueMatcher.of(list(CANDIDATE_POOL))
    for example in synthetic.examples(2, 300):
        hits = [m.cue for m in matcher.find_all(example.reasoning)]
        assert hits == [cue for cue, _ in example.cues]
        assert set(hits) <= set(synthetic.EASY_CUES) | set(synthetic.HARD_CUES)


def test_easy_cues_restate_numbers_already_written_and_hard_cues_calculate() -> None:
    for example in synthetic.examples(3, 300):
        lines = example.reasoning.splitlines()
        for i, line in enumerate(lines):
            numbers = re.findall(r"\d+", line)
            earlier = set(re.findall(r"\d+", "\n".join(lines[:i])))
            if line.startswith(synthetic.EASY_CUES):
                assert numbers and set(numbers) <= earlier and not SUM.search(line), line
            elif line.startswith(synthetic.HARD_CUES):
                assert SUM.search(line), line  # a calculation: its result is written here first


def test_heldout_and_validation_never_appear_in_training() -> None:
    train = {e.question for e in synthetic.training_stream(5000)}
    held = [e.question for e in synthetic.heldout()]
    assert len(held) == len(set(held)) >= 200
    assert train.isdisjoint(held)
    assert train.isdisjoint(e.question for e in synthetic.validation())


def test_the_training_prompt_is_what_the_relay_renders_for_the_qwen3_tiny_profile() -> None:
    profile = load_profile("qwen3-tiny")
    question = synthetic.examples(4, 1)[0].question
    for spec in (profile.large, profile.small):
        assert render_prefix(spec.prompt, [{"role": "user", "content": question}]) == synthetic.prompt_text(
            question
        )


def test_cue_choice_is_random_but_seeded() -> None:
    rng = random.Random(0)
    cues = [cue for _ in range(200) for cue, _ in synthetic.make_example(rng).cues]
    assert set(cues) == set(synthetic.EASY_CUES) | set(synthetic.HARD_CUES)


def test_the_heldout_set_loads_by_name_and_is_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path))
    problems = load_dataset("qwen3-tiny-heldout")
    assert len(problems) == synthetic.HELDOUT_SIZE >= 200
    assert [p.question for p in problems] == [e.question for e in synthetic.heldout()]
    assert all(
        p.kind == "integer" and p.answer == str(e.answer)
        for p, e in zip(problems, synthetic.heldout(), strict=True)
    )
    assert dataset_file("qwen3-tiny-heldout") == tmp_path / "datasets" / "qwen3-tiny-heldout.jsonl"
    assert load_dataset("qwen3-tiny-heldout", limit=5) == problems[:5]


def test_an_unknown_bundled_model_is_a_clear_error() -> None:
    with pytest.raises(ConversionError, match="no bundled model named 'nope'"):
        ensure_model("nope")


def test_recovery_scores_a_selection_against_the_planted_easy_cues() -> None:
    result = recovery(["So,", "Thus", "Thus,", "Wait,", "So,"])
    assert result.true_positives == ("So,", "Thus", "Thus,") and result.false_positives == ("Wait,",)
    assert result.missed == ("Therefore,",)
    assert result.precision == 3 / 4 and result.recall == pytest.approx(2 / 3)
    assert recovery([]).precision == 0.0 and recovery([]).recall == 0.0
    kinds = [planted_kind(c) for c in ("Therefore,", "Therefore", "Next,", "Alternatively", "Hmm", "So ")]
    assert kinds == ["easy", "easy", "hard", "hard", "absent", "easy"]
