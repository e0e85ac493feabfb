"""Post-cue segment boundaries: where the small model's stretch starts and ends."""

from __future__ import annotations

from relaychat.calibration.candidates import CANDIDATE_POOL
from relaychat.calibration.scoring import align_pieces
from relaychat.calibration.segments import post_cue_segments
from relaychat.core.cues import CueMatcher


def tokens(pieces: list[str]) -> tuple[str, list[int]]:
    text = "".join(pieces)
    starts, _ = align_pieces(text, pieces)
    return text, starts


def split(tokens_text: str) -> list[str]:
    """Token pieces written with "|" between them: "We| know|." -> ["We", " know", "."]."""
    return tokens_text.split("|")


def test_segment_runs_from_the_token_after_the_cue_to_the_sentence_end() -> None:
    pieces = split("We| know| x|.| Thus|,| x| is| 3|.|5| now|.| Next| step")
    text, starts = tokens(pieces)
    [seg] = post_cue_segments(text, starts, ["Thus,"])
    assert text[seg.cue_start : seg.start] == "Thus,"
    assert pieces[seg.first_token : seg.last_token] == split(" x| is| 3|.|5| now|.")  # 3.5 is no sentence end
    assert text[seg.start : seg.end] == " x is 3.5 now."


def test_bare_cue_segment_starts_at_the_comma_and_word_boundaries_hold() -> None:
    pieces = ["We", " know", " it", ".", " Thus", ",", " done", ".\n\n", "Now", " go"]
    text, starts = tokens(pieces)
    segments = post_cue_segments(text, starts, ["Thus", "now", "Now"])
    by_cue = {s.cue: s for s in segments}
    assert "now" not in by_cue  # not inside "know"
    assert pieces[by_cue["Thus"].first_token : by_cue["Thus"].last_token] == [",", " done", ".\n\n"]
    # the last sentence has no end: the segment runs to the end of the text
    assert pieces[by_cue["Now"].first_token : by_cue["Now"].last_token] == [" go"]


def test_trailing_space_cue_hands_over_after_the_word() -> None:
    pieces = ["So", " the", " sum", " is", " 4", ".", " So", ",", " ok", "."]
    text, starts = tokens(pieces)
    segments = post_cue_segments(text, starts, ["So ", "So,"])
    assert [(s.cue, pieces[s.first_token]) for s in segments] == [("So ", " the"), ("So,", " ok")]


def test_a_token_that_carries_the_cue_end_is_not_in_the_segment() -> None:
    pieces = ["Thus,", " x", "."]  # one token holds the cue and its comma
    text, starts = tokens(pieces)
    [seg] = post_cue_segments(text, starts, ["Thus"])
    assert pieces[seg.first_token : seg.last_token] == [" x", "."]


def test_cue_at_the_end_of_the_text_has_no_segment() -> None:
    text, starts = tokens(["It", " is", " 4", ".", " Therefore"])
    assert post_cue_segments(text, starts, ["Therefore"]) == []


def test_segments_use_the_runtime_matcher_for_every_candidate() -> None:
    text = "Otherwise Anyway we know. Other cases. Any idea. Hmm, next, double-check it."
    starts, _ = align_pieces(text, list(text))  # one token per character
    found = {s.cue for s in post_cue_segments(text, starts, CANDIDATE_POOL)}
    matcher_found = {c for c in CANDIDATE_POOL if CueMatcher.of([c]).find_all(text)}
    assert found == matcher_found
    assert {"Other", "Any", "Hmm,", "Hmm", "next,", "next", "double-check"} <= found
    assert "now" not in found and "check" not in found
