"""Benchmark problems from a data directory or a file, in one shape for every dataset.

The project never ships benchmark data: `aime25`, `amc23` and `math500` are read by name from a data
directory (`--data`, `settings.data` / RELAYCHAT_DATA, else `../shared/data` beside the working
directory or the checkout), `qwen3-tiny-heldout` is generated (seeded, see `relaychat.tinyqwen`), any
JSONL/CSV file is read by path, and GPQA comes from the user's own copy (its authors ask that it not be
published in plain text). Hub loading is optional and only used
when the `datasets` package is installed and the file is not found locally.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

AnswerKind = Literal["integer", "math", "choice"]
LETTERS = "ABCDEFGHIJ"
GPQA_SEED = 20231120  # fixed: the same shuffled options on every machine and every run

NAMED: dict[str, str] = {"aime25": "aime25.jsonl", "amc23": "amc23.jsonl", "math500": "math500.jsonl"}
GPQA_FILES = ("gpqa_diamond.csv", "gpqa_diamond.jsonl", "gpqa.csv", "gpqa.jsonl")
HUB_IDS: dict[
    str, tuple[str, str]
] = {  # name -> (hub dataset, split); tried only when offline copies are missing
    "aime25": ("MathArena/aime_2025", "train"),
    "amc23": ("math-ai/amc23", "test"),
    "math500": ("HuggingFaceH4/MATH-500", "test"),
}

_QUESTION_KEYS = ("problem", "question", "Question", "prompt")
_ANSWER_KEYS = ("answer", "Answer", "expected_answer", "Correct Answer")
_ID_KEYS = ("id", "problem_idx", "unique_id", "Record ID")


class DatasetError(ValueError):
    """A dataset that cannot be found or read; the message says where it looked."""


class Problem(BaseModel):
    """One problem: what the model is asked and how its answer is graded."""

    id: str
    question: str
    answer: str
    kind: AnswerKind = "math"
    choices: list[str] | None = None  # for `choice`: the options in the order shown (A, B, ...)


def default_data_dirs(explicit: str | Path | None = None) -> list[Path]:
    """Where named datasets are looked for, first match wins."""
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit).expanduser())
    env = os.environ.get("RELAYCHAT_DATA")
    if env:
        candidates.append(Path(env).expanduser())
    candidates.append(Path.cwd().parent / "shared" / "data")
    checkout = Path(__file__).resolve().parents[2]
    candidates.append(checkout.parent / "shared" / "data")
    seen: list[Path] = []
    for path in candidates:
        if path not in seen:
            seen.append(path)
    return seen


def dataset_file(name_or_path: str, data_dir: str | Path | None = None) -> Path:
    """The local file a dataset is read from, so a run can record its name and checksum.

    Unlike `load_dataset` it never falls back to the hub: a hub copy has no file to checksum.
    """
    folders = default_data_dirs(data_dir)
    path = _local_file(name_or_path, folders)
    if path is None:
        raise _not_found(name_or_path, folders)
    return path


def load_dataset(
    name_or_path: str,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    *,
    require_answers: bool = True,
) -> list[Problem]:
    """Problems of a named dataset (aime25, amc23, math500, gpqa) or of a JSONL/CSV file.

    `require_answers=False` accepts rows with a question only (answer ""): calibration grades nothing.
    """
    folders = default_data_dirs(data_dir)
    path = _local_file(name_or_path, folders)
    name = "" if _names_a_file(name_or_path) else name_or_path
    lines: list[int] | None = None
    if path is not None:
        numbered = _read_rows(path)
        rows: Iterable[dict[str, Any]] = [row for _, row in numbered]
        lines = [line for line, _ in numbered]
    else:
        hub = _from_hub(name) if name in HUB_IDS else None
        if hub is None:
            raise _not_found(name, folders)
        rows = hub
    where = str(path) if path is not None else name
    problems = list(problems_from_rows(rows, name, require_answers=require_answers, lines=lines, where=where))
    if not problems:
        raise DatasetError(f"dataset {name_or_path!r} has no problems")
    _refuse_duplicates(problems, lines, where)
    return problems[:limit] if limit else problems


def _refuse_duplicates(problems: list[Problem], lines: list[int] | None, where: str) -> None:
    """Two rows with one id would be scored as one problem twice ("6/6" from 5 records): refuse."""
    seen: dict[str, list[int]] = {}
    for index, problem in enumerate(problems):
        seen.setdefault(problem.id, []).append(lines[index] if lines else index + 1)
    duplicates = {ident: at for ident, at in seen.items() if len(at) > 1}
    if duplicates:
        unit = "lines" if lines else "rows"
        listed = "; ".join(
            f"{ident!r} on {unit} {', '.join(map(str, at))}" for ident, at in list(duplicates.items())[:5]
        )
        raise DatasetError(f"{where} repeats problem ids ({listed}): each problem must have its own id")


def heldout_rows() -> list[dict[str, Any]]:
    """The qwen3-tiny pair's held-out problems (seeded; never in its training data)."""
    from relaychat.tinyqwen.synthetic import heldout

    return [{"id": f"h{i:03d}", "question": e.question, "answer": e.answer} for i, e in enumerate(heldout())]


# Generated, not shipped: written once into the cache dir, so a run records a file and its checksum.
GENERATED: dict[str, Callable[[], list[dict[str, Any]]]] = {"qwen3-tiny-heldout": heldout_rows}


def _generated_file(name: str) -> Path:
    from relaychat.paths import cache_dir

    path = cache_dir() / "datasets" / f"{name}.jsonl"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in GENERATED[name]()), encoding="utf-8")
        tmp.replace(path)
    return path


def _names_a_file(name_or_path: str) -> bool:
    path = Path(name_or_path).expanduser()
    return path.suffix.lower() in (".jsonl", ".json", ".csv") or path.is_file()


def _local_file(name_or_path: str, folders: list[Path]) -> Path | None:
    """The file behind a path or a known name (None: a known name with no local copy)."""
    if _names_a_file(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise DatasetError(f"no dataset file at {path}")
        return path
    if name_or_path in GENERATED:
        return _generated_file(name_or_path)
    if name_or_path not in NAMED and name_or_path != "gpqa":
        names = ", ".join([*NAMED, "gpqa", *GENERATED])
        raise DatasetError(f"unknown dataset {name_or_path!r}: use one of {names} or a .jsonl/.csv path")
    files = GPQA_FILES if name_or_path == "gpqa" else (NAMED[name_or_path],)
    for folder in folders:
        for file in files:
            if (folder / file).is_file():
                return folder / file
    return None


def _not_found(name: str, folders: list[Path]) -> DatasetError:
    where = ", ".join(str(f) for f in folders)
    if name == "gpqa":
        return DatasetError(
            "GPQA-Diamond is not distributed in plain text: download it from its authors and pass the "
            f"CSV path (--dataset /path/to/gpqa_diamond.csv), or put {GPQA_FILES[0]} in the data dir "
            f"(looked in: {where})"
        )
    return DatasetError(
        f"{NAMED[name]} not found (looked in: {where}); pass --data DIR or set RELAYCHAT_DATA"
    )


def _from_hub(name: str) -> Iterable[dict[str, Any]] | None:
    """The public hub copy, when the optional `datasets` package is installed and a network is there."""
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        return None
    hub_id, split = HUB_IDS[name]
    try:
        return list(datasets.load_dataset(hub_id, split=split))
    except Exception:
        return None


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for every row of a file; each row must be a JSON object (or a CSV row)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DatasetError(
            f"{path}: line {bad_line} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from exc
    if path.suffix.lower() == ".csv":
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""))
            return [(reader.line_num, row) for row in reader]
        except csv.Error as exc:
            raise DatasetError(f"cannot read {path}: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"cannot read {path}: {exc}") from exc
        items = data if isinstance(data, list) else data.get("data", []) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise DatasetError(f"{path} holds neither a list of problems nor a `data` list")
        numbered = list(enumerate(items, 1))
        unit = "item"
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}: line {number} is not valid JSON ({exc.msg})") from exc
        unit = "line"
    for number, row in numbered:
        if not isinstance(row, dict):
            kind = type(row).__name__
            raise DatasetError(
                f"{path}: {unit} {number} is a JSON {kind}, not an object with question/answer"
            )
    return numbered


def problems_from_rows(
    rows: Iterable[dict[str, Any]],
    name: str = "",
    *,
    require_answers: bool = True,
    lines: list[int] | None = None,
    where: str = "",
) -> Iterator[Problem]:
    """Map rows of any supported layout (MATH-style, AIME/AMC, GPQA columns) onto `Problem`.

    `lines`: each row's line in its file, so errors point at the right place."""
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DatasetError(f"{where or 'dataset'}: row {index + 1} is not an object with question/answer")
        if "Correct Answer" in row and "Incorrect Answer 1" in row:
            yield gpqa_problem(row, index)
            continue
        question = _first(row, _QUESTION_KEYS)
        answer = _first(row, _ANSWER_KEYS)
        if answer is None and not require_answers:
            answer = ""
        if question is None or answer is None:
            keys = ", ".join(sorted(row))
            wanted = "question/answer" if require_answers else "question"
            at = f"line {lines[index]}" if lines else f"row {index + 1}"
            prefix = f"{where}: " if where else ""
            raise DatasetError(f"{prefix}{at} has no {wanted} field (has: {keys})")
        ident = _first(row, _ID_KEYS)
        yield Problem(
            id=str(ident if ident is not None else index),
            question=str(question),
            answer=_answer_text(answer),
            kind="integer" if _is_integer(answer) or name == "aime25" else "math",
        )


def gpqa_problem(row: dict[str, Any], index: int) -> Problem:
    """A GPQA row with its four options shuffled by a seed fixed per problem (never always 'A')."""
    correct = str(row["Correct Answer"]).strip()
    options = [correct] + [str(row[f"Incorrect Answer {i}"]).strip() for i in (1, 2, 3)]
    ident = str(_first(row, _ID_KEYS) or index)
    random.Random(f"{GPQA_SEED}:{ident}").shuffle(options)
    letter = LETTERS[options.index(correct)]
    lines = [str(row["Question"]).strip(), ""] + [f"({LETTERS[i]}) {opt}" for i, opt in enumerate(options)]
    lines += ["", "Answer with the letter of the correct option."]
    return Problem(id=ident, question="\n".join(lines), answer=letter, kind="choice", choices=options)


def _first(row: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if key in row and row[key] not in (None, ""):
            return row[key]
    return None


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return False


def _answer_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # AMC stores 27.0: graded as the integer 27
    return str(value).strip()
