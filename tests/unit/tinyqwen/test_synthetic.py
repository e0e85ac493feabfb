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

SUM = re.compile(r"(?<![-+*] )\b(\d+) ([-+*]) (\d+) = (\d+)\b(?! [-+*])")  # a whole "x op y = z"
ADD_COLUMNS = re.compile(
    r"ones (\d) \+ (\d) = (\d+), tens (\d) \+ (\d) \+ (\d) = (\d), .*?(\d+) \+ (\d+) = (\d+)"
)
SUB_COLUMNS = re.compile(
    r"ones (\d+) - (\d) = (\d), tens (\d) - (\d) - (\d) = (\d), .*?(\d+) - (\d+) = (\d+)"
)


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
        totals = [f for f in found if f[1] != "*"]
        assert int(totals[-1][3]) == example.answer
        assert f"\\boxed{{{example.answer}}}" in example.answer_text


def test_additions_and_subtractions_are_worked_column_by_column_before_the_result() -> None:
    """Ones column (with its carry or borrow), tens column, then the whole result: each digit written
    is one local step, the fix for the carry slips of whole-number sums."""
    for example in synthetic.examples(9, 300):
        for line in example.reasoning.splitlines():
            if not [f for f in SUM.findall(line) if f[1] != "*"]:
                continue
            add, sub = ADD_COLUMNS.search(line), SUB_COLUMNS.search(line)
            assert (add is None) != (sub is None), line
            if add:
                o1, o2, ones, t1, t2, carry, tens, x, y, z = map(int, add.groups())
                assert (o1, t1, o2, t2) == (x % 10, x // 10, y % 10, y // 10), line
                assert ones == o1 + o2 and carry == ones // 10 and tens == t1 + t2 + carry, line
                assert z == 10 * tens + ones % 10 == x + y, line
            else:
                assert sub is not None
                top, o2, ones, t1, t2, borrow, tens, x, y, z = map(int, sub.groups())
                assert borrow == int(x % 10 < y % 10) and top == x % 10 + 10 * borrow and o2 == y % 10, line
                assert ones == top - o2 and (t1, t2) == (x // 10, y // 10) and tens == t1 - t2 - borrow, line
                assert z == 10 * tens + ones == x - y, line


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
