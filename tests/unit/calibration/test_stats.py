"""Per-cue statistics: the standard error is over occurrences (or traces), never over pooled tokens."""

from __future__ import annotations

import math
from statistics import stdev

import pytest

from relaychat.calibration.analysis import analyse
from relaychat.calibration.candidates import BASE_WORDS, CANDIDATE_POOL
from relaychat.calibration.scoring import align_pieces
from relaychat.calibration.selection import SelectionRule
from relaychat.calibration.stats import TraceMargins, add_bootstrap, choose, cue_stats, global_stats


def trace(key: str, pieces: list[str], margins: list[float | None]) -> TraceMargins:
    text = "".join(pieces)
    starts, _ = align_pieces(text, pieces)
    return TraceMargins(key, text, starts, margins)


# Two traces; "Now," is followed by 3-token sentences whose margins are constant within a segment
# (perfectly autocorrelated) but differ between segments.
T1 = trace(
    "a",
    ["Now", ",", " x", " y", ".", " Now", ",", " z", " w", "."],
    [0.1, 0.1, 0.9, 0.9, 0.9, 0.2, 0.2, 0.5, 0.5, 0.5],
)
T2 = trace("b", ["Now", ",", " p", " q", ".", " Hmm", " r", "."], [None, 0.3, 0.7, 0.7, 0.7, 0.4, 0.4, 0.4])


def test_the_candidate_pool_is_the_papers_91() -> None:
    assert len(CANDIDATE_POOL) == 91 == len(set(CANDIDATE_POOL))
    assert {"So ", "so ", "So,", "so,", "Specifically,", "specifically", "double-check", "Next,"} <= set(
        CANDIDATE_POOL
    )
    assert "So" not in CANDIDATE_POOL and len(BASE_WORDS) == 20


def test_global_mean_is_over_every_scored_token() -> None:
    overall = global_stats([T1, T2])
    values = [m for t in (T1, T2) for m in t.margins if m is not None]
    assert overall.tokens == len(values) == 17
    assert overall.mean == pytest.approx(sum(values) / len(values))


def test_occurrence_is_the_unit_of_the_standard_error() -> None:
    stats = cue_stats([T1, T2], ["Now,", "Hmm", "Wait"])["Now,"]
    assert (stats.occurrences, stats.traces, stats.tokens) == (3, 2, 9)
    segment_means = [0.9, 0.5, 0.7]
    assert stats.segment_mean == pytest.approx(0.7)
    assert stats.se_segment == pytest.approx(stdev(segment_means) / math.sqrt(3))
    # pooling the 9 autocorrelated tokens pretends to three times the evidence: a much smaller SE
    assert stats.se_token == pytest.approx(stdev([0.9] * 3 + [0.5] * 3 + [0.7] * 3) / 3)
    assert stats.se_token < stats.se_segment


def test_one_occurrence_has_no_standard_error_and_absent_cues_are_listed() -> None:
    table = cue_stats([T1, T2], ["Hmm", "Wait"])
    assert table["Hmm"].occurrences == 1 and table["Hmm"].se_segment is None
    assert table["Wait"].occurrences == 0 and table["Wait"].mean is None


def test_cluster_bootstrap_is_seeded_and_needs_two_traces() -> None:
    first = cue_stats([T1, T2], ["Now,", "Hmm"])
    second = cue_stats([T1, T2], ["Now,", "Hmm"])
    add_bootstrap(first, ["a", "b"], rounds=300, seed=7)
    add_bootstrap(second, ["a", "b"], rounds=300, seed=7)
    assert first["Now,"].se_bootstrap == second["Now,"].se_bootstrap
    assert first["Now,"].se_bootstrap is not None and first["Now,"].se_bootstrap > 0
    assert first["Hmm"].se_bootstrap is None  # one trace only


def test_choose_picks_the_mean_and_se_pair_the_rule_compares() -> None:
    table = cue_stats([T1, T2], ["Now,"])
    choose(table, "token")
    assert (table["Now,"].mean, table["Now,"].se) == (table["Now,"].token_mean, table["Now,"].se_token)
    choose(table, "segment")
    assert (table["Now,"].mean, table["Now,"].se) == (table["Now,"].segment_mean, table["Now,"].se_segment)


def test_the_weak_pooled_bar_passes_a_cue_the_honest_bar_rejects() -> None:
    # Segment means 0.9, 0.5, 0.7 (mean 0.7, SE 0.115) vs global 0.494: bar 0.725; pooled SE 0.058: bar 0.609.
    honest = analyse([T1, T2], ["Now,"], SelectionRule("mean-se", 2.0), "segment")
    weak = analyse([T1, T2], ["Now,"], SelectionRule("mean-se", 2.0), "token")
    assert honest.selected == [] and weak.selected == ["Now,"]
