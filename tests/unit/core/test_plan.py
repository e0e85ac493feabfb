"""RelayPlan: the settings resolved once from profile and options, and how each model's turn runs."""

from __future__ import annotations

import pytest

from relaychat.core.plan import RelayOptions, RelayPlan, Turn
from relaychat.core.profile import PairProfile, load_profile


def profile(**update: object) -> PairProfile:
    return load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 1000, "answer_reserve": 100, "small_max_tokens": 30, "min_tokens": 5, **update}
    )


def test_the_profile_budgets_apply_unless_the_options_say_otherwise() -> None:
    plan = RelayPlan.of(profile(), RelayOptions())
    assert (plan.max_tokens, plan.answer_reserve, plan.reasoning_budget) == (1000, 100, 900)
    assert RelayPlan.of(profile(), RelayOptions(answer_reserve=10)).answer_reserve == 10


def test_a_small_budget_keeps_the_reserve_proportionate() -> None:
    plan = RelayPlan.of(profile(), RelayOptions(max_tokens=200))
    assert (plan.max_tokens, plan.answer_reserve) == (200, 50)


def test_a_reserve_as_large_as_the_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="answer reserve"):
        RelayPlan.of(profile(), RelayOptions(max_tokens=100, answer_reserve=100))


def test_relay_turns_cut_at_cues_then_sentence_ends_within_the_budget() -> None:
    plan = RelayPlan.of(profile(), RelayOptions())
    assert plan.roles == ["large", "small"] and plan.first == "large" and plan.relay
    assert plan.turn("large", 400) == Turn("cue", 500, 5)
    assert plan.turn("small", 400) == Turn("sentence", 30, 0)  # the small model's own cap
    assert plan.turn("small", 880) == Turn("sentence", 20, 0)  # or what is left of the reasoning
    assert plan.answer_turn(880) == Turn("none", 120)


def test_a_single_model_mode_writes_everything_with_no_cues() -> None:
    plan = RelayPlan.of(profile(), RelayOptions(mode="small", answer_model="large"))
    assert plan.roles == ["small"] and plan.first == "small" and not plan.relay
    assert plan.answer_model == "small" and plan.cues == [] and plan.stops == ["</think>"]
    assert plan.turn("small", 100) == Turn("none", 900, 0)


def test_cues_from_the_options_become_boundary_encoded_stop_strings() -> None:
    plan = RelayPlan.of(profile(), RelayOptions(cues=("So ",)))
    assert plan.cues == ["So "] and plan.matcher.cues == ("So ",)
    assert plan.stops[-1] == "</think>" and all("So" in s for s in plan.stops[:-1]) and len(plan.stops) > 2


def test_request_seeds_differ_per_request_and_follow_the_seed() -> None:
    plan = RelayPlan.of(profile(seed=7), RelayOptions())
    seeds = [plan.request_seed(i) for i in range(50)]
    assert len(set(seeds)) == 50 and all(s is not None and 0 <= s < 2**31 for s in seeds)
    assert RelayPlan.of(profile(seed=8), RelayOptions()).request_seed(0) != seeds[0]
    assert RelayPlan.of(profile(seed=None), RelayOptions()).request_seed(3) is None
