"""The word-boundary cue matcher and the sentence-end rule (README: where it departs from the reference)."""

from __future__ import annotations

import pytest

from relaychat.core.cues import CueMatcher
from relaychat.core.sentences import sentence_end

QWEN3 = [
    "Now",
    "now",
    "now,",
    "Now,",
    "Any",
    "Other",
    "So ",
    "So,",
    "Thus",
    "Thus,",
    "Therefore",
    "Therefore,",
]


def cues_in(text: str, cues: list[str] = QWEN3) -> list[str]:
    return [m.cue for m in CueMatcher.of(cues).find_all(text)]


@pytest.mark.parametrize(
    "text",
    [
        "We know the area.",
        "Anyway, the sum is 4.",
        "Otherwise it fails.",
        "Nowhere to go.",
        "Sonic is fast.",
        "Also, nowadays.",
        "It is now's turn",
    ],
)
def test_cues_never_fire_inside_words(text: str) -> None:
    assert cues_in(text) == []


def test_cue_fires_at_word_boundaries_with_longest_match() -> None:
    text = "First add. Now, the sum. So the answer. Thus x. Therefore, done. (now) Any case."
    assert cues_in(text) == ["Now,", "So ", "Thus", "Therefore,", "now", "Any"]


def test_trailing_space_cue_needs_white_space_and_excludes_it() -> None:
    matcher = CueMatcher.of(["So "])
    assert cues_in("So, then", ["So "]) == []
    (match,) = matcher.find_all("Done. So we stop")
    assert "Done. So we stop"[match.start : match.end] == "So"  # the space belongs to the next token


def test_streaming_waits_for_the_character_after_a_word_cue() -> None:
    matcher = CueMatcher.of(["Now", "Now,"])
    assert matcher.first_confirmed("The end. Now") is None  # could still become "Nowhere"
    assert matcher.first_confirmed("The end. Nowhere") is None
    match = matcher.first_confirmed("The end. Now,")
    assert match is not None and match.cue == "Now,"
    match = matcher.first_confirmed("The end. Now we")
    assert match is not None and match.cue == "Now" and match.end == len("The end. Now")


def test_punctuated_cue_is_confirmed_without_lookahead() -> None:
    assert CueMatcher.of(["Thus,"]).first_confirmed("ok. Thus,") is not None


def test_first_confirmed_respects_start() -> None:
    matcher = CueMatcher.of(["So "])
    text = "So we go. So we stop"
    first = matcher.first_confirmed(text)
    assert first is not None and first.start == 0
    second = matcher.first_confirmed(text, first.end)
    assert second is not None and second.start == text.index("So we stop")


def test_empty_cue_set_matches_nothing() -> None:
    assert CueMatcher.of([]).find_all("Now, so.") == []
    assert CueMatcher.of([]).first_confirmed("Now, so.") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It costs 3.5 dollars. Next", "It costs 3.5 dollars."),
        ("Use a prior, e.g. a flat one. Then", "Use a prior, e.g. a flat one."),
        ("See i.e. this. Ok", "See i.e. this."),
        ("Compute 5! = 120 now. Done", "Compute 5! = 120 now."),
        ("Steps:\n1. add\n2. sub. End", "Steps:\n1. add\n"),  # a list item is a unit
        ("First line\n\nSecond", "First line\n\n"),
        ("Is it? Yes", "Is it?"),
        ("The answer is 3. So", "The answer is 3."),
        ("Smith et al. showed it. So", "Smith et al. showed it."),
    ],
)
def test_sentence_end(text: str, expected: str) -> None:
    position = sentence_end(text)
    assert position is not None
    assert text[:position] == expected


@pytest.mark.parametrize("text", ["The value 3.", "x = 3.14159", "e.g.", "No end here", "Wow!"])
def test_sentence_not_yet_ended(text: str) -> None:
    assert sentence_end(text) is None


def test_sentence_end_from_start_offset() -> None:
    text = "One. Two. Three"
    assert sentence_end(text, 4) == len("One. Two.")
