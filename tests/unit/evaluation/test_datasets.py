"""Loading benchmark problems by name, from files of any supported layout, and failing clearly."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from relaychat.evaluation.datasets import DatasetError, dataset_file, default_data_dirs, load_dataset


def test_named_datasets_load_from_the_data_dir(data_dir: Path) -> None:
    aime = load_dataset("aime25", data_dir)
    amc = load_dataset("amc23", data_dir)
    math500 = load_dataset("math500", data_dir, limit=7)
    assert (len(aime), len(amc), len(math500)) == (30, 40, 7)
    assert aime[0].id == "1" and aime[0].kind == "integer" and aime[0].answer == "70"
    assert amc[0].answer == "27" and amc[0].kind == "integer"  # stored as 27.0
    assert math500[0].kind == "math" and math500[0].answer.startswith(r"\left(")
    assert len({p.id for p in math500}) == 7


def test_data_dir_comes_from_the_environment_when_not_given(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYCHAT_DATA", str(data_dir))
    assert default_data_dirs()[0] == data_dir
    assert len(load_dataset("amc23", limit=3)) == 3


def test_any_jsonl_or_csv_file_loads_by_path(tmp_path: Path) -> None:
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"question": f"{i}+1?", "answer": str(i + 1)}) for i in range(3)) + "\n"
    )
    problems = load_dataset(str(jsonl))
    assert [p.id for p in problems] == ["0", "1", "2"] and problems[2].answer == "3"
    table = tmp_path / "mine.csv"
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["id", "problem", "answer"])
        writer.writeheader()
        writer.writerow({"id": "a", "problem": "x?", "answer": r"\frac12"})
    assert load_dataset(str(table))[0].answer == r"\frac12"


def test_gpqa_file_in_the_original_columns_becomes_multiple_choice(tmp_path: Path) -> None:
    path = tmp_path / "gpqa_diamond.csv"
    with path.open("w", newline="") as handle:
        columns = [
            "Record ID",
            "Question",
            "Correct Answer",
            "Incorrect Answer 1",
            "Incorrect Answer 2",
            "Incorrect Answer 3",
        ]
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerow(dict(zip(columns, ["r1", "Which?", "yes", "no", "maybe", "never"], strict=False)))
    by_path = load_dataset(str(path))
    by_name = load_dataset("gpqa", tmp_path)
    assert by_path == by_name
    assert by_path[0].kind == "choice" and by_path[0].answer in "ABCD"


def test_missing_data_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("relaychat.evaluation.datasets.default_data_dirs", lambda explicit=None: [tmp_path])
    with pytest.raises(DatasetError, match=r"amc23\.jsonl not found"):
        load_dataset("amc23", tmp_path)
    with pytest.raises(DatasetError, match="GPQA-Diamond is not distributed"):
        load_dataset("gpqa", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("gsm8k")
    with pytest.raises(DatasetError, match="no dataset file"):
        load_dataset(str(tmp_path / "nope.jsonl"))


def test_rows_without_question_or_answer_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "hello"}) + "\n")
    with pytest.raises(DatasetError, match="line 1 has no question/answer field"):
        load_dataset(str(path))


def test_dataset_file_is_the_file_load_dataset_reads(data_dir: Path, tmp_path: Path) -> None:
    assert dataset_file("amc23", data_dir) == data_dir / "amc23.jsonl"
    own = tmp_path / "own.jsonl"
    own.write_text(json.dumps({"problem": "1+1?", "answer": 2}) + "\n")
    assert dataset_file(str(own)) == own
    assert load_dataset(str(dataset_file("amc23", data_dir)), limit=2) == load_dataset("amc23", data_dir, 2)
    with pytest.raises(DatasetError, match="unknown dataset"):
        dataset_file("gsm8k", data_dir)


def test_dataset_file_never_falls_back_to_the_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("relaychat.evaluation.datasets.default_data_dirs", lambda explicit=None: [tmp_path])
    monkeypatch.setattr(
        "relaychat.evaluation.datasets._from_hub", lambda name: [{"problem": "x", "answer": 1}]
    )
    assert len(load_dataset("amc23", tmp_path)) == 1
    with pytest.raises(DatasetError, match=r"amc23\.jsonl not found"):
        dataset_file("amc23", tmp_path)


def test_questions_without_answers_load_only_when_answers_are_not_required(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"p{i}", "question": f"{i}+1?"}) for i in range(3)) + "\n")
    with pytest.raises(DatasetError, match="no question/answer field"):
        load_dataset(str(path))
    problems = load_dataset(str(path), limit=2, require_answers=False)
    assert [(p.id, p.answer) for p in problems] == [("p0", ""), ("p1", "")]
    path.write_text(json.dumps({"text": "hello"}) + "\n")
    with pytest.raises(DatasetError, match="line 1 has no question field"):
        load_dataset(str(path), require_answers=False)
