"""The sentence rule case by case: closing characters, abbreviations, math and code spans, streaming."""

from __future__ import annotations

import pytest

from relaychat.backends.base import Token
from relaychat.core.cues import CueMatcher
from relaychat.core.cuts import CutScanner
from relaychat.core.sentences import SentenceRule, sentence_end, sentence_end_suffixes, sentence_ends


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('He said "it is 4." Then', 'He said "it is 4."'),
        ("(so it is 4.) Then", "(so it is 4.)"),
        ('Is it "odd?" Yes', 'Is it "odd?"'),
        ("He said 'no!' Then", "He said 'no!'"),
        ("**Step 2.** Factor", "**Step 2.**"),
        ("It is “4.” Then", "It is “4.”"),
        ("It is ‘4.’ Then", "It is ‘4.’"),
    ],
)
def test_closing_characters_stay_in_the_sentence(text: str, expected: str) -> None:
    position = sentence_end(text)
    assert position is not None and text[:position] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("In the U.S. economy it grows. Next", "In the U.S. economy it grows."),
        ("At 3 p.m. the train left. Next", "At 3 p.m. the train left."),
        ("Take item No. 5 here. Next", "Take item No. 5 here."),
        ("See Fig. 2 and Eq. 3 for it. Next", "See Fig. 2 and Eq. 3 for it."),
        ("It is approx. 3.14 here. Next", "It is approx. 3.14 here."),
        ("Apples, pears, etc. are fruit. Next", "Apples, pears, etc. are fruit."),
        ("Ask Dr. Lee at St. Mark's. Next", "Ask Dr. Lee at St. Mark's."),
        ("Use cf. the note, vs. the rest. Next", "Use cf. the note, vs. the rest."),
        ("Is 91 prime? No. It is 7 times 13.", "Is 91 prime?"),
        ("They met at 7 p.m. Then it rained.", "They met at 7 p.m."),
        ("Wait... no, that is wrong. So", "Wait... no, that is wrong."),
    ],
)
def test_abbreviations_and_initialisms(text: str, expected: str) -> None:
    position = sentence_end(text)
    assert position is not None and text[:position] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We get \\[ x = 1. \\] and so on. Next", "We get \\[ x = 1. \\] and so on."),
        ("We get $$ x = 1. y = 2. $$ and so. Next", "We get $$ x = 1. y = 2. $$ and so."),
        ("So $x = 1. y$ is it. Next", "So $x = 1. y$ is it."),
        ("So \\(x = 1. y\\) is it. Next", "So \\(x = 1. y\\) is it."),
        ("We get\n\\[\nx = 1.\n\\]\nThen", "We get\n\\[\nx = 1.\n\\]"),
        (
            "As\n\\begin{align*}\na &= 1. \\\\\nb &= 2.\n\\end{align*}\nSo",
            "As\n\\begin{align*}\na &= 1. \\\\\nb &= 2.\n\\end{align*}",
        ),
        ("Run `x = 1. y` now. Next", "Run `x = 1. y` now."),
        ("Code:\n```\nx = 1. Done.\n\ny = 2\n```\nok. Next", "Code:\n```\nx = 1. Done.\n\ny = 2\n```\nok."),
        ("It costs \\$5. Then", "It costs \\$5."),
        ("It costs $5 in all.\nSo we pay. Then", "It costs $5 in all.\nSo we pay."),
    ],
)
def test_never_inside_math_or_code(text: str, expected: str) -> None:
    position = sentence_end(text)
    assert position is not None and text[:position] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("### Step 1: Expand\nWe expand. Next", "### Step 1: Expand\n"),
        ("**Solution**\nWe expand. Next", "**Solution**\n"),
        ("- first item\n- second", "- first item\n"),
        ("We list:\n- first", None),  # a line that ends with a colon goes on
    ],
)
def test_heading_and_list_lines(text: str, expected: str | None) -> None:
    position = sentence_end(text)
    assert (text[:position] if position is not None else None) == expected


def test_streaming_a_character_at_a_time_finds_the_same_ends() -> None:
    text = 'We get "\\[ x = 1. \\]" and U.S. data.** Then $a.b$ ends? Yes... ok. Wait!\' No.\n\n## H\nEnd.'
    streamed: list[int] = []
    rule = SentenceRule()
    for char in text + "\n\n":
        end = rule.feed(char)
        while end is not None:
            if min(end, len(text)) not in streamed:
                streamed.append(min(end, len(text)))
            end = rule.feed("")
    assert streamed == sentence_ends(text)
    assert len(streamed) == 8


def test_pending_suffixes() -> None:
    assert sentence_end_suffixes("It is 4.") == sentence_end_suffixes('It is "4."') == ("",)
    assert sentence_end_suffixes("Steps are\n") == ("\n",)
    assert sentence_end_suffixes("So $x = 4.") == ()  # inside math
    assert sentence_end_suffixes("In the U.S.") == sentence_end_suffixes("see Fig.") == ()


def test_a_cue_after_an_opening_quote_fires_and_contractions_stay_words() -> None:
    matcher = CueMatcher.of(["So,", "Now", "t"])
    assert [m.cue for m in matcher.find_all("He said 'So, the sum is 4'.")] == ["So,"]
    assert [m.cue for m in matcher.find_all("He said ‘Now we add’.")] == ["Now"]
    assert matcher.find_all("We don't know, it isn't") == []


def test_the_scanner_window_stays_bounded_on_a_long_segment() -> None:
    """The cost per token does not grow with the segment: what is searched per token stays small."""
    for detect in ("sentence", "cue", "none"):
        scanner = CutScanner(
            context="",
            detect=detect,  # type: ignore[arg-type]
            stage="answer",
            matcher=CueMatcher.of(["Therefore,", "So "]),
            marker="</think>",
            end_texts=["<|im_end|>"],
        )
        sizes = []
        for i in range(20_000):
            scanner.add(Token(text=" word" if i % 7 else " $x_1 + 2", id=i))
            sizes.append(len(scanner._win))
            if scanner.sentences is not None:
                sizes.append(len(scanner.sentences._buf))
        assert scanner.cut is None
        assert max(sizes) < 200
