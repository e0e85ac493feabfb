"""`CutScanner.add_chunk` finds exactly the cut that feeding the same tokens one by one finds, on random
streams with cues, sentence ends, end texts and the reasoning marker, cut into random chunks."""

from __future__ import annotations

import random

import pytest

from relaychat.backends.base import Token
from relaychat.core.cues import CueMatcher
from relaychat.core.cuts import CutScanner, Detect

PIECES = [
    " We", " add", " the", " two", ".", " Now", ",", " So", " the", " sum", " is", " 3", ".5", "!",
    "\n\n", " e.g.", " Therefore", " know", " Thus,", "<|im", "_end|>", "</th", "ink>", " 5", "! =", "\n2.",
]  # fmt: skip
CUES = ["Now,", "Now", "So ", "Therefore", "Thus,"]
MARKER = "</think>"


def _scanner(detect: Detect, rng: random.Random) -> CutScanner:
    return CutScanner(
        context=rng.choice(["", "Before this. ", "x"]),
        detect=detect,
        stage=rng.choice(["reasoning", "answer"]),
        matcher=CueMatcher.of(CUES),
        marker=MARKER,
        end_texts=rng.choice([[], ["<|im_end|>"], ["<|im_end|>", "<|im", "_end"]]),
        min_tokens=rng.choice([0, 3]),
        answer_in_stream=rng.random() < 0.3,
        budget_left=rng.choice([None, 15, 40]),
    )


def _state(scanner: CutScanner) -> tuple[object, ...]:
    n = len(scanner.tokens)
    return (
        scanner.cut,
        scanner.answer_from,
        scanner.text,
        [scanner.text_of(0, k) for k in range(n + 1)],
        scanner.pending(n),
    )


@pytest.mark.parametrize("detect", ["cue", "sentence", "none"])
def test_chunks_cut_where_single_tokens_cut(detect: Detect) -> None:
    rng = random.Random(detect)
    cuts = 0
    for _ in range(400):
        tokens = [Token(text=rng.choice(PIECES), id=i) for i in range(rng.randint(1, 30))]
        seed = rng.random()
        one, many = _scanner(detect, random.Random(seed)), _scanner(detect, random.Random(seed))
        for token in tokens:
            one.add(token)
        at = 0
        while at < len(tokens):
            step = rng.randint(1, 6)
            many.add_chunk(tokens[at : at + step])
            at += step
        assert _state(many) == _state(one)
        cuts += one.cut is not None
    assert cuts > 100  # the streams do reach cuts


def test_one_alternation_finds_the_leftmost_end_text_as_a_find_per_text_did() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        needles = rng.sample(["ab", "b", "abc", "c", "", "ca"], rng.randint(1, 4))
        text = "".join(rng.choice("abcx") for _ in range(rng.randint(0, 12)))
        start = rng.randint(0, len(text))
        scanner = CutScanner(context="", detect="none", stage="answer", matcher=CueMatcher.of([]),
                             marker=MARKER, end_texts=needles)  # fmt: skip
        assert scanner._end_re is not None
        found = [p for p in (text.find(n, start) for n in needles) if p >= 0]
        match = scanner._end_re.search(text, start)
        assert (match.start() if match else None) == (min(found) if found else None)
