"""The grader on the tricky cases of the benchmark data (docs/evaluation.md) and on every reference answer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from relaychat.evaluation.datasets import Problem, gpqa_problem, load_dataset
from relaychat.evaluation.grading import as_integer, choice_letter, extract, grade, last_boxed, math_equal


def math(answer: str) -> Problem:
    return Problem(id="p", question="q", answer=answer, kind="math")


def integer(answer: str) -> Problem:
    return Problem(id="p", question="q", answer=answer, kind="integer")


def test_reference_is_wrapped_in_dollars_so_a_tuple_is_not_read_as_its_first_number() -> None:
    polar = math(r"\left( 3, \frac{\pi}{2} \right)")
    assert grade(polar, r"So \boxed{(3, \frac{\pi}{2})}.").correct
    assert not grade(polar, r"\boxed{3}").correct


def test_aime_answers_compare_as_integers() -> None:
    assert grade(integer("70"), r"\boxed{070}").correct
    assert grade(integer("1625"), r"\boxed{1,625}").correct
    assert grade(integer("27"), r"\boxed{27.0}").correct
    assert not grade(integer("70"), r"\boxed{71}").correct
    assert as_integer(r"\text{42}") == 42 and as_integer("3/4") is None


def test_non_integer_prediction_for_integer_answer_falls_back_to_math_verify() -> None:
    assert grade(integer("4"), r"\boxed{\frac{8}{2}}").correct
    assert not grade(integer("4"), r"\boxed{x+1}").correct


def test_the_last_box_counts_and_nested_braces_are_kept() -> None:
    text = r"first \boxed{1}, then \boxed{\frac{1}{\sqrt{2}}} at last"
    assert last_boxed(text) == r"\frac{1}{\sqrt{2}}"
    assert last_boxed(r"\boxed 5 done") == "5"
    assert last_boxed("no box") is None
    assert last_boxed(r"\boxed{unclosed") is None
    assert grade(math(r"\frac{\sqrt{2}}{2}"), text).correct


def test_a_run_without_an_answer_is_graded_on_its_reasoning() -> None:
    verdict = grade(integer("27"), answer="", reasoning=r"... so the distance is \boxed{27}. Let me check")
    assert verdict.correct and verdict.source == "reasoning"
    answer_first = grade(integer("27"), answer=r"\boxed{26}", reasoning=r"\boxed{27}")
    assert not answer_first.correct and answer_first.source == "answer"


def test_nothing_to_grade_is_wrong_with_source_none() -> None:
    verdict = grade(integer("27"), answer="  ", reasoning="no box here")
    assert not verdict.correct and verdict.source == "none" and verdict.extracted is None
    assert extract("The answer is 27.", "")[1] == "answer_text"


def test_multiple_choice_letters() -> None:
    problem = Problem(id="g", question="q", answer="C", kind="choice", choices=["w", "x", "y", "z"])
    for text in (
        r"\boxed{C}",
        r"\boxed{(C)}",
        r"\boxed{\text{C}}",
        r"\boxed{C) 42 kelvin}",
        "The answer is (C).",
    ):
        assert grade(problem, text).correct, text
    assert not grade(problem, r"\boxed{B}").correct
    assert not grade(problem, r"\boxed{E}").correct  # not an option
    assert choice_letter("Answer: d", whole_text=True) == "D"


def test_gpqa_options_are_shuffled_by_a_fixed_seed_per_problem() -> None:
    rows = [
        {
            "Record ID": f"rec{i}",
            "Question": f"Q{i}?",
            "Correct Answer": "right",
            "Incorrect Answer 1": "w1",
            "Incorrect Answer 2": "w2",
            "Incorrect Answer 3": "w3",
        }
        for i in range(40)
    ]
    first = [gpqa_problem(row, i) for i, row in enumerate(rows)]
    again = [gpqa_problem(row, i) for i, row in enumerate(rows)]
    assert [p.choices for p in first] == [p.choices for p in again]
    assert len({p.answer for p in first}) == 4  # the correct option is not always "A"
    for p in first:
        assert p.kind == "choice" and p.choices is not None
        assert p.choices["ABCD".index(p.answer)] == "right"
        assert f"({p.answer}) right" in p.question


def test_grading_works_off_the_main_thread_without_signal_timeouts() -> None:
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(math_equal(r"\frac{1}{2}", "0.5")))
    worker.start()
    worker.join(timeout=60)
    assert results == [True]


@pytest.mark.parametrize("name", ["aime25", "amc23", "math500"])
def test_every_reference_answer_grades_as_correct_against_itself(data_dir: Path, name: str) -> None:
    problems = load_dataset(name, data_dir)
    wrong = [p.id for p in problems if not grade(p, rf"The answer is $\boxed{{{p.answer}}}$.").correct]
    assert wrong == []
