"""The sentence rule against a hand-marked corpus of reasoning passages (tests/corpus/).

Every mark is where a reader ends a sentence. The rule must agree with the marks (offline, and on a
stream a token at a time through the cut scanner), never cut inside a math span, and the small model's
turn after every cue in a passage must end at the next mark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from relaychat.backends.base import Token
from relaychat.core.cues import CueMatcher
from relaychat.core.cuts import CutScanner
from relaychat.core.sentences import SentenceRule, sentence_ends

CORPUS = Path(__file__).parents[2] / "corpus" / "reasoning_passages.txt"
MARK = "¦"
QWEN3_CUES = ["Oh,", "another,", "Thus", "Now", "Alternatively", "alternatively,", "Thus,", "Therefore",
              "similarly", "similarly,", "now", "Again", "specifically,", "Again,", "Similarly,", "Now,",
              "Specifically,", "Hence", "Similarly", "Other", "now,", "hence", "Specifically", "So ",
              "Therefore,", "Wait,", "Also", "So,"]  # fmt: skip
R1_CUES = ["Wait", "Thus", "thus", "similarly", "Again,", "Now", "Therefore", "hence", "Hence,", "Now,",
           "Thus,", "Oh,", "Similarly,", "Any", "Therefore,", "Alternatively,", "now,", "So,", "now",
           "verify", "Specifically,", "Alternatively", "Ah,", "wait", "So "]  # fmt: skip
# Math spans found independently of the rule: display first, then inline; escaped dollars skipped.
_MATH = re.compile(
    r"\$\$.*?\$\$|\\\[.*?\\\]|\\begin\{(\w+\*?)\}.*?\\end\{\1\}|\\\(.*?\\\)|(?<!\\)\$(?!\s).*?(?<![\s\\])\$",
    re.DOTALL,
)
_TOKEN = re.compile(r"[ \t]?\w+|\s+|[^\w\s]")


@dataclass(frozen=True)
class Passage:
    name: str
    text: str
    marks: tuple[int, ...]


def _passages() -> list[Passage]:
    corpus = CORPUS.read_text(encoding="utf-8")
    names = re.findall(r"^=== (.+) ===$", corpus, flags=re.M)
    bodies = re.split(r"^=== .+ ===\n", corpus, flags=re.M)[1:]
    return [_parse(name, body) for name, body in zip(names, bodies, strict=True)]


def _parse(name: str, body: str) -> Passage:
    text, marks = "", []
    for piece in body.rstrip("\n").split(MARK):
        text += piece
        marks.append(len(text))
    return Passage(name, text, tuple(marks[:-1]))


PASSAGES = _passages()


def _normalized(text: str, ends: list[int]) -> list[int]:
    """Each end moved back over trailing white space (a blank line's end is where its text ended)."""
    return sorted({len(text[:end].rstrip()) for end in ends})


def _math_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _MATH.finditer(text)]


def _streamed_ends(text: str) -> list[int]:
    """Every end the streaming rule confirms, the text fed a token at a time (then closed by "\\n\\n")."""
    rule, ends = SentenceRule(), []
    for piece in [*_TOKEN.findall(text), "\n\n"]:
        end = rule.feed(piece)
        while end is not None:
            ends.append(min(end, len(text)))
            end = rule.feed("")
    return ends


def _score(found: dict[str, list[int]]) -> tuple[float, list[str]]:
    agree = total = 0
    wrong: list[str] = []
    for passage in PASSAGES:
        marks, ends = set(passage.marks), set(found[passage.name])
        agree += len(marks & ends)
        total += len(marks | ends)
        for position in sorted(marks ^ ends):
            kind = "missed" if position in marks else "extra"
            wrong.append(f"{passage.name}: {kind} at {passage.text[max(0, position - 30) : position]!r}")
    return agree / total, wrong


def test_the_corpus_is_big_and_varied_enough() -> None:
    assert len(PASSAGES) >= 40
    assert sum(len(p.marks) for p in PASSAGES) >= 200
    everything = "".join(p.text for p in PASSAGES)
    features = ["\\[", "$$", "\\(", "**Step", "### ", "```", "`", "e.g.", "U.S.", "p.m.", '."', ".)", "”"]
    for feature in features:
        assert feature in everything, feature


def test_the_rule_agrees_with_the_marks() -> None:
    agreement, wrong = _score({p.name: _normalized(p.text, sentence_ends(p.text)) for p in PASSAGES})
    assert agreement >= 0.98, "\n".join(wrong)


def test_the_streamed_rule_agrees_with_the_marks() -> None:
    agreement, wrong = _score({p.name: _normalized(p.text, _streamed_ends(p.text)) for p in PASSAGES})
    assert agreement >= 0.98, "\n".join(wrong)


@pytest.mark.parametrize("passage", PASSAGES, ids=lambda p: p.name)
def test_no_end_falls_inside_math(passage: Passage) -> None:
    spans = _math_spans(passage.text)
    for end in [*sentence_ends(passage.text), *_streamed_ends(passage.text)]:
        inside = [passage.text[a:b] for a, b in spans if a < end < b]
        assert not inside, f"cut at {end} inside {inside}"


def _small_turn_end(text: str, cue_end: int) -> int | None:
    """Where the cut scanner ends the small model's turn that starts right after a cue at `cue_end`."""
    before = SentenceRule()
    before.advance(text[:cue_end])
    scanner = CutScanner(
        context=text[:cue_end][-64:],
        detect="sentence",
        stage="reasoning",
        matcher=CueMatcher.of([]),
        marker="</think>",
        sentences=before,
    )
    pieces = [*_TOKEN.findall(text[cue_end:]), "\n\n"]
    for i, piece in enumerate(pieces):
        scanner.add(Token(text=piece, id=i))
        if scanner.cut is not None:
            kept = scanner.text_of(0, scanner.cut.index + 1)
            return min(len((text[:cue_end] + kept).rstrip()), len(text))
    return None


def test_the_small_models_turn_after_every_cue_ends_at_the_next_mark() -> None:
    checked = agree = 0
    wrong: list[str] = []
    for passage in PASSAGES:
        matchers = (CueMatcher.of(QWEN3_CUES), CueMatcher.of(R1_CUES))
        cue_ends = {m.end for matcher in matchers for m in matcher.find_all(passage.text)}
        for cue_end in sorted(cue_ends):
            expected = next((m for m in passage.marks if m > cue_end), len(passage.text.rstrip()))
            got = _small_turn_end(passage.text, cue_end)
            checked += 1
            if got == expected:
                agree += 1
            else:
                before = passage.text[cue_end - 12 : cue_end]
                wrong.append(f"{passage.name} @ {before!r}: {got} != {expected}")
    assert checked >= 50
    assert agree / checked >= 0.98, "\n".join(wrong)


def test_a_cue_inside_an_opening_quote_is_found() -> None:
    passage = next(p for p in PASSAGES if p.name == "qwen3-single-quote-cue")
    found = [m.cue for m in CueMatcher.of(QWEN3_CUES).find_all(passage.text)]
    assert "So," in found and "Therefore," in found
