"""Margins from top-k dicts as vLLM's prompt_logprobs sends them, and token -> character alignment."""

from __future__ import annotations

import math

import pytest

from relaychat.calibration.scoring import align_pieces, margin_top_k

ln = math.log


def test_margin_is_p1_minus_p2_in_probabilities() -> None:
    assert margin_top_k({"1": ln(0.6), "2": ln(0.3), "3": ln(0.1)}, k=20) == pytest.approx(0.3)


def test_tie_gives_zero() -> None:
    assert margin_top_k({"1": ln(0.45), "2": ln(0.45), "3": ln(0.1)}, k=3) == 0.0


def test_one_entry_gives_the_lower_bound() -> None:
    assert margin_top_k({"7": ln(0.9)}, k=20) == pytest.approx(0.8)


def test_prompt_token_outside_top_k_is_ignored() -> None:
    # k = 2: vLLM adds the actual token (rank 9) as a third entry; it must not become p2.
    top = {"1": ln(0.5), "2": ln(0.2), "99": ln(0.01)}
    assert margin_top_k(top, k=2) == pytest.approx(0.3)
    # k = 1: p2 is unknown (the outsider is not the runner-up), so the lower bound 2*p1 - 1 is used.
    assert margin_top_k({"1": ln(0.7), "99": ln(0.05)}, k=1) == pytest.approx(0.4)


def test_no_entry_gives_none() -> None:
    assert margin_top_k(None, k=20) is None
    assert margin_top_k({}, k=20) is None


def test_pieces_that_add_up_get_their_own_spans() -> None:
    text = "So the cost is 3.5."
    pieces = ["So", " the", " cost", " is", " 3", ".", "5", "."]
    starts, ends = align_pieces(text, pieces)
    assert [text[s:e] for s, e in zip(starts, ends, strict=False)] == pieces


def test_empty_pieces_of_a_multibyte_character_share_nothing() -> None:
    # vLLM's incremental detokenizer: '' for the first bytes, the whole character on the last token.
    text = "ok 😀 done"
    starts, ends = align_pieces(text, ["ok", "", " 😀", " done"])
    assert (starts[1], ends[1]) == (2, 2)
    assert text[starts[2] : ends[2]] == " 😀"
    assert text[starts[3] : ends[3]] == " done"


def test_replacement_pieces_share_the_skipped_characters() -> None:
    text = "café au lait"
    starts, ends = align_pieces(text, ["caf", "\ufffd", "\ufffd", " au", " lait"])
    assert [(starts[i], ends[i]) for i in (1, 2)] == [(3, 4), (3, 4)]
    assert text[starts[3] : ends[3]] == " au"
    assert starts == sorted(starts)


def test_pieces_past_the_end_get_empty_spans_at_the_end() -> None:
    starts, ends = align_pieces("abc", ["abc", "\ufffd"])
    assert (starts[1], ends[1]) == (3, 3)
