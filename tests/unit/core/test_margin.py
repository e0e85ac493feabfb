"""p1 - p2 from top-k logprob dicts as servers send them."""

from __future__ import annotations

import math

import pytest

from relaychat.core.margin import margin_from_logprobs

ln = math.log


def test_margin_is_the_probability_gap() -> None:
    assert margin_from_logprobs([ln(0.7), ln(0.2)]) == pytest.approx(0.5)


def test_order_does_not_matter_and_extra_entries_are_ignored() -> None:
    # vLLM adds the sampled token when it is outside the top k: only the two largest count.
    assert margin_from_logprobs([ln(0.05), ln(0.6), ln(0.3)]) == pytest.approx(0.3)


def test_tie_gives_zero() -> None:
    assert margin_from_logprobs([ln(0.4), ln(0.4)]) == 0.0


def test_single_entry_gives_a_lower_bound() -> None:
    assert margin_from_logprobs([ln(0.9)]) == pytest.approx(0.8)
    assert margin_from_logprobs([ln(0.3)]) == 0.0  # p2 could be as large as 0.7


def test_no_entries() -> None:
    assert margin_from_logprobs([]) is None


def test_bounds_survive_rounding() -> None:
    value = margin_from_logprobs([1e-9, -30.0])  # logprob slightly above 0 from float noise
    assert value is not None and 0.0 <= value <= 1.0


def test_none_nan_and_minus_infinity_entries() -> None:
    assert margin_from_logprobs([None, ln(0.6), math.nan, ln(0.1)]) == pytest.approx(0.5)  # type: ignore[list-item]
    assert margin_from_logprobs([math.nan, None]) is None  # type: ignore[list-item]
    # A token the model gives no mass at all still counts as an entry: p2 = 0.
    assert margin_from_logprobs([ln(0.6), -math.inf]) == pytest.approx(0.6)


def test_same_as_sorting_on_random_top_k() -> None:
    import random

    rng = random.Random(7)
    for _ in range(500):
        values = [rng.uniform(-12, 0.0) for _ in range(rng.randint(1, 4))]
        top = sorted(values, reverse=True)
        p1 = math.exp(top[0])
        expected = max(0.0, 2 * p1 - 1) if len(top) == 1 else min(1.0, max(0.0, p1 - math.exp(top[1])))
        assert margin_from_logprobs(values) == pytest.approx(expected, abs=1e-15)
