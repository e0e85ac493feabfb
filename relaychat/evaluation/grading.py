"""One grader for every mode: the last `\\boxed{}` of the answer, checked with math-verify.

Rules (docs/evaluation.md, "Grading"): references are wrapped as `$...$` before parsing (unwrapped,
`\\left( 3, \\frac{\\pi}{2} \\right)` parses as just `3`); integer answers (AIME, AMC) compare as
integers, so "070" is 70; multiple choice compares letters. A run that spent its budget before
answering is graded on the last `\\boxed{}` of its reasoning instead of being counted wrong unseen
(the reference graded only the text after `</think>`). math-verify bounds its own time with
`signal.alarm`, which only works on the main thread: elsewhere its timeouts are switched off and the
caller must bound the time (the runner grades in a worker process, on that process's main thread).
"""

from __future__ import annotations

import re
import threading
from typing import Literal

from pydantic import BaseModel

from relaychat.evaluation.datasets import LETTERS, Problem

GradeSource = Literal["answer", "reasoning", "answer_text", "none"]

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_LETTER_PATTERNS = [
    re.compile(r"^\(?([A-J])\)?(?:[\s.:)]|$)"),
    re.compile(r"\\text(?:bf)?\{\(?([A-J])\)?\}"),
]
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*\(?\\?(?:text\{)?([A-J])\b", re.IGNORECASE)
_INTEGER = re.compile(r"^[+-]?\d[\d,]*(?:\.0*)?$")


class Grade(BaseModel):
    correct: bool
    extracted: str | None = None  # what was compared with the reference
    source: GradeSource = "none"  # where it came from


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (balanced braces), or of `\\boxed 5`."""
    found: str | None = None
    for match in _BOXED.finditer(text):
        i = match.end()
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        found = text[i + 1 : j]
                        break
                j += 1
        elif i < len(text):
            bare = re.match(r"[^\s$]+", text[i:])
            if bare:
                found = bare.group(0)
    return found.strip() if found is not None else None


def extract(answer: str, reasoning: str) -> tuple[str | None, GradeSource]:
    """What to grade and where it was found: answer box, else reasoning box, else the answer text."""
    boxed = last_boxed(answer)
    if boxed is not None:
        return boxed, "answer"
    boxed = last_boxed(reasoning)
    if boxed is not None:
        return boxed, "reasoning"
    if answer.strip():
        return answer.strip(), "answer_text"
    return None, "none"


def as_integer(text: str) -> int | None:
    """'070', '1,625', '27.0', '$27$', '\\text{27}' -> the integer; anything else -> None."""
    cleaned = re.sub(r"\\text\{([^}]*)\}", r"\1", text).strip().strip("$").strip()
    cleaned = cleaned.replace("\\!", "").replace("{,}", ",").replace(" ", "")
    if not _INTEGER.match(cleaned):
        return None
    return int(float(cleaned.replace(",", "")))


def choice_letter(text: str, whole_text: bool = False) -> str | None:
    """The option letter in a boxed answer ('B', '(B)', '\\text{B}', 'B) 42'), or 'answer is B' in text."""
    candidate = text.strip().strip("$").strip()
    if not whole_text:
        for pattern in _LETTER_PATTERNS:
            match = pattern.search(candidate)
            if match:
                return match.group(1)
    matches = _ANSWER_IS.findall(candidate)
    return matches[-1].upper() if matches else None


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def math_equal(reference: str, predicted: str, *, whole_text: bool = False, timeout_s: int = 5) -> bool:
    """math-verify equivalence; the reference is wrapped in `$...$`, a box's content too."""
    from math_verify import parse, verify

    timeout = timeout_s if _on_main_thread() else None
    gold = parse(_wrap(reference), parsing_timeout=timeout)
    pred = parse(predicted if whole_text else _wrap(predicted), parsing_timeout=timeout)
    if not gold or not pred:
        return False
    return bool(verify(gold, pred, timeout_seconds=timeout))


def _wrap(latex: str) -> str:
    text = latex.strip()
    return text if text.startswith("$") and text.endswith("$") and len(text) > 1 else f"${text}$"


def grade(problem: Problem, answer: str, reasoning: str = "") -> Grade:
    """Grade one run's answer (and, when it has no boxed answer, its reasoning) against the reference."""
    extracted, source = extract(answer, reasoning)
    if extracted is None:
        return Grade(correct=False, source="none")
    whole = source == "answer_text"
    if problem.kind == "choice":
        letter = choice_letter(extracted, whole_text=whole)
        valid = LETTERS[: len(problem.choices or LETTERS)]
        ok = letter is not None and letter in valid and letter == problem.answer.strip().upper()
        return Grade(correct=ok, extracted=letter, source=source)
    if problem.kind == "integer" and not whole:
        gold, pred = as_integer(problem.answer), as_integer(extracted)
        if gold is not None and pred is not None:
            return Grade(correct=gold == pred, extracted=extracted, source=source)
    return Grade(
        correct=math_equal(problem.answer, extracted, whole_text=whole), extracted=extracted, source=source
    )
