"""The selection rule on constructed statistics: just above / just below the bar, and the guards."""

from __future__ import annotations

import pytest

from relaychat.calibration.selection import SelectionRule, apply_rule
from relaychat.calibration.stats import CueStats, GlobalStats

GLOBAL = GlobalStats(mean=0.50, tokens=1000, traces=10)


def stats(cue: str, mean: float | None, se: float | None, occurrences: int = 10) -> CueStats:
    return CueStats(
        cue, occurrences=occurrences, traces=occurrences, tokens=occurrences * 5, mean=mean, se=se
    )


def test_cue_just_above_the_bar_is_kept_and_just_below_is_dropped() -> None:
    table = {
        "Above": stats("Above", 0.50 + 0.10 + 1e-9, 0.10),  # bar = 0.5 + 1 * 0.1
        "Below": stats("Below", 0.50 + 0.10 - 1e-9, 0.10),
        "Exact": stats("Exact", 0.60, 0.10),  # >= : exactly on the bar is kept
    }
    selected = apply_rule(SelectionRule("mean-se", 1.0), table, GLOBAL)
    assert selected == ["Above", "Exact"]
    assert table["Below"].bar == pytest.approx(0.60)
    assert "<" in table["Below"].reason and ">=" in table["Above"].reason


def test_threshold_scales_the_standard_error() -> None:
    table = {"Now": stats("Now", 0.65, 0.10)}
    assert apply_rule(SelectionRule("mean-se", 1.0), table, GLOBAL) == ["Now"]
    assert apply_rule(SelectionRule("mean-se", 2.0), table, GLOBAL) == []
    assert table["Now"].bar == pytest.approx(0.70)


def test_a_cue_needs_enough_occurrences_for_a_standard_error() -> None:
    table = {"Once": stats("Once", 0.99, None, occurrences=1), "Few": stats("Few", 0.99, 0.01, occurrences=2)}
    selected = apply_rule(SelectionRule("mean-se", 1.0, min_occurrences=3), table, GLOBAL)
    assert selected == []
    assert "too few occurrences (1 < 3)" == table["Once"].reason
    # mean-se always needs at least two, even when asked for one
    assert apply_rule(SelectionRule("mean-se", 1.0, min_occurrences=1), table, GLOBAL) == ["Few"]


def test_missing_standard_error_is_not_a_pass() -> None:
    table = {"Cue": stats("Cue", 0.9, None)}
    assert apply_rule(SelectionRule("mean-se"), table, GLOBAL) == []
    assert "no standard error" in table["Cue"].reason


def test_mean_delta_and_all_rules() -> None:
    table = {
        "A": stats("A", 0.56, 0.5),
        "B": stats("B", 0.54, 0.0),
        "C": stats("C", 0.1, None, occurrences=1),
    }
    assert apply_rule(SelectionRule("mean-delta", 0.05), table, GLOBAL) == ["A"]
    assert apply_rule(SelectionRule("all", min_occurrences=1), table, GLOBAL) == ["A", "B", "C"]


def test_no_scored_tokens_selects_nothing() -> None:
    table = {"A": stats("A", 0.9, 0.01)}
    assert apply_rule(SelectionRule(), table, GlobalStats(mean=None, tokens=0, traces=0)) == []
