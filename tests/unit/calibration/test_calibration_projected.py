"""A cue set's projected speedup from calibration traces: the relay structure it would cut, on paper."""

from __future__ import annotations

import re
from typing import Any

import pytest

from relaychat.calibration.projected import projection_section, relay_on_paper
from relaychat.calibration.report import render_markdown
from relaychat.calibration.stats import TraceMargins
from relaychat.projection.costmodel import load_cost_model

TEXT = (
    "We add the two numbers first and write the total down here. So, the sum is 5. "
    "Then we check the result against the question once more. So, it holds for sure. "
    "Now we are done with the check."
)


def trace() -> TraceMargins:
    starts = [m.start() for m in re.finditer(r"\S+", TEXT)]
    margins: list[float | None] = [0.9 if i % 2 else 0.5 for i in range(len(starts))]
    return TraceMargins("t", TEXT, starts, margins)


def test_the_set_cuts_large_up_to_each_cue_and_small_to_the_sentence_end() -> None:
    shape, small_margins = relay_on_paper(trace(), ["So,"])
    assert [(s.model, s.tokens) for s in shape.segments] == [
        ("large", 13),
        ("small", 4),
        ("large", 11),
        ("small", 4),
        ("large", 7),
    ]
    assert shape.switches == 4 and len(small_margins) == 8
    nothing, _ = relay_on_paper(trace(), [])
    assert [(s.model, s.tokens) for s in nothing.segments] == [("large", 39)]


def test_projection_section_compares_sets_and_the_report_shows_it() -> None:
    costs = load_cost_model("h200-qwen3")
    section = projection_section([trace()], {"none": [], "so": ["So,"], "more": ["So,", "Now"]}, costs, 0.6)
    sets: list[dict[str, Any]] = section["sets"]  # type: ignore[assignment]
    rows = {row["name"]: row for row in sets}
    assert rows["none"]["projected_speedup"] == pytest.approx(1.0, abs=0.01)
    assert rows["so"]["projected_speedup"] > 1.0
    assert rows["more"]["large_share"] < rows["so"]["large_share"] < 1.0
    assert rows["so"]["small_mean_margin"] == pytest.approx(0.7)
    cue_set = {
        "name": "x",
        "cues": ["So,"],
        "global": {"mean_margin": 0.6, "tokens": 39, "traces": 1},
        "rule": {"description": "r", "standard_error": "segment", "min_occurrences": 1},
        "statistics": {},
        "projection": section,
    }
    text = render_markdown(cue_set)
    assert "Cue sets projected on Qwen3-32B" in text and "| so | 1 |" in text
