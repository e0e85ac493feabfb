"""Benchmark scenarios and metrics on scripted backends (deterministic; no timing asserted)."""

from __future__ import annotations

import pytest

from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.bench.metrics import RunObservation, ServerDelta
from relaychat.bench.render import comparison_table, text_block
from relaychat.bench.runner import BenchPlan, run_scenario, run_scenarios
from relaychat.bench.scenarios import ScenarioError, default_scenarios, parse_scenario, parse_scenarios
from relaychat.core.profile import load_profile
from relaychat.relay import open_relay


def test_scenario_names_parse_into_mode_concurrency_and_variants() -> None:
    s = parse_scenario("relay-x4+nocues")
    assert (s.mode, s.concurrency, s.variants) == ("relay", 4, ("nocues",))
    assert s.options() == {"cues": ()}
    assert parse_scenario("large").concurrency == 1
    assert [x.name for x in default_scenarios(3)] == ["large", "small", "relay", "relay-x3"]
    assert [x.name for x in parse_scenarios("small, relay-x2")] == ["small", "relay-x2"]
    with pytest.raises(ScenarioError, match="unknown variant 'warp'"):
        parse_scenario("relay+warp")
    with pytest.raises(ScenarioError, match="bad scenario"):
        parse_scenario("medium")
    with pytest.raises(ScenarioError, match="at least 1"):
        parse_scenario("relay-x0")


def test_server_delta_reads_vllm_counter_names() -> None:
    before = {"vllm:prefix_cache_queries_total": 100.0, "vllm:prefix_cache_hits_total": 60.0}
    after = {
        "vllm:prefix_cache_queries_total": 300.0,
        "vllm:prefix_cache_hits_total": 210.0,
        "vllm:generation_tokens_total": 50.0,
    }
    delta = ServerDelta.between(before, after)
    assert (delta.cache_queries, delta.cache_hits, delta.generation_tokens) == (200.0, 150.0, 50.0)
    assert delta.hit_rate == 0.75 and delta.computed_prompt_tokens == 50.0


async def test_a_relay_scenario_counts_switches_gaps_and_tokens_from_the_events() -> None:
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 120, "answer_reserve": 30, "shared_tokenizer": False, "small_max_tokens": 20}
    )
    large = ScriptedBackend("http://l", name="L", default=Reply(words("Let me add. So the")))
    small = ScriptedBackend("http://s", name="S", default=Reply(words(" sum is 4. Next")))
    seen: list[RunObservation] = []
    metrics = await run_scenario(
        parse_scenario("relay-x2"),
        open_relay(profile, backends={"large": large, "small": small}, policy=None),
        BenchPlan(["2+2?", "3+3?", "4+4?"], max_tokens=120),
        on_run=lambda _s, o: seen.append(o),
    )
    assert metrics.runs == 3 and metrics.failed == 0 and len(seen) == 3
    summaries = [o.summary for o in seen if o.summary is not None]
    assert metrics.output_tokens == sum(s.total_tokens for s in summaries)
    assert metrics.switches == sum(s.switches for s in summaries) > 0
    # Each handoff between different models has a gap; the answer handoff (large -> small) counts too.
    assert metrics.switch_gap_ms.n == sum(len(o.handoff_gaps_s) for o in seen) >= metrics.switches
    assert metrics.switch_next_ttft_ms.n == metrics.switch_gap_ms.n
    assert metrics.role_segments["large"] + metrics.role_segments["small"] == metrics.segments
    # By receiver, only relay switches count: the handoff to the answer is not a switch.
    by_receiver = sum(d.n for d in metrics.switch_gap_into_ms.values())
    answers = sum(
        1 for o in seen for _to, switch in zip(o.handoff_to, o.handoff_switch, strict=False) if not switch
    )
    assert by_receiver > 0 and by_receiver == metrics.switch_gap_ms.n - answers
    assert metrics.servers == {}  # scripted backends expose no /metrics
    assert 0 < (metrics.large_share or 0) < 1
    text = text_block(metrics)
    for label in (
        "Successful runs:",
        "Mean TTFT (ms):",
        "P99 TPOT (ms):",
        "Median gap (ms):",
        "Client CPU per received token (ms):",
    ):
        assert label in text
    assert comparison_table([metrics]).row_count == 1


async def test_single_model_scenarios_have_no_switch_gaps() -> None:
    profile = load_profile("qwen3-1.7b-32b").model_copy(update={"max_tokens": 60, "answer_reserve": 15})
    large = ScriptedBackend(
        "http://l", name="L", default=Reply(words("Fine. So the sum is 4.</think>\\boxed{4}"))
    )
    metrics = await run_scenario(
        parse_scenario("large"),
        open_relay(profile, backends={"large": large, "small": large}, policy=None),
        BenchPlan(["2+2?"], repeats=2),
    )
    assert metrics.runs == 2 and metrics.switches == 0 and metrics.switch_gap_ms.n == 0
    assert "Switch gap" not in text_block(metrics)


class _CountingBackend(ScriptedBackend):
    """A scripted server with vLLM-style counters, reset-able like a dev-mode vLLM."""

    resets = 0

    async def metrics(self) -> dict[str, float]:
        return {"vllm:generation_tokens_total": float(sum(len(r.prompt) for r in self.requests))}

    async def reset_prefix_cache(self) -> bool:
        self.resets += 1
        return True


async def test_single_session_scenarios_take_turns_prompt_by_prompt() -> None:
    profile = load_profile("qwen3-1.7b-32b").model_copy(update={"max_tokens": 60, "answer_reserve": 15})
    large = _CountingBackend(
        "http://l", name="L", default=Reply(words("Fine. So the sum is 4.</think>\\boxed{4}"))
    )
    order: list[tuple[str, int]] = []
    scenarios = parse_scenarios("large,large+nocues,relay-x2")
    small = ScriptedBackend("http://s", name="S", default=Reply(words(" sum is 4. Next")))
    results = await run_scenarios(
        scenarios,
        open_relay(profile, backends={"large": large, "small": small}, policy=None),
        BenchPlan(["2+2?", "3+3?"]),
        on_run=lambda s, o: order.append((s.name, len(order))),
    )
    assert [m.scenario for m in results] == ["large", "large+nocues", "relay-x2"]
    # The two single-session scenarios alternate; the concurrent one runs as a block afterwards.
    assert [name for name, _ in order] == ["large", "large+nocues"] * 2 + ["relay-x2"] * 2
    assert all(m.runs == 2 for m in results)
    assert results[0].cold_cache and large.resets >= 4  # every interleaved run starts from empty caches
    # Counters are summed over a scenario's own runs only: together they account for all traffic once.
    per_scenario = [m.servers["large"].generation_tokens for m in results]
    assert all(n > 0 for n in per_scenario)
    assert sum(per_scenario) == sum(len(r.prompt) for r in large.requests)


def test_overhead_and_efficiency_use_each_servers_own_speed() -> None:
    from relaychat.bench.metrics import _overhead
    from relaychat.bench.render import switch_efficiency_own_speed
    from relaychat.core.events import ModelStats, RunSummary

    # One server at 40 ms/token: 101 tokens after a 100 ms TTFT take 4.1 s; it took 4.2 s.
    single = RunSummary(mode="large", profile="p", large=ModelStats(tokens=101), wall_s=4.2, ttft_s=0.1)
    # The relay: 61 tokens on a 40 ms core (the first one is the TTFT), 40 on a 20 ms core (faster, so
    # its tok/s flatters the relay): 0.1 + 60 x 0.04 + 40 x 0.02 = 3.3 s of the servers' own time.
    relay = RunSummary(
        mode="relay",
        profile="p",
        large=ModelStats(tokens=61),
        small=ModelStats(tokens=40),
        switches=3,
        wall_s=3.6,
        ttft_s=0.1,
    )
    servers = {
        "large": ServerDelta(itl_sum=4.0, itl_count=100),
        "small": ServerDelta(itl_sum=2.0, itl_count=100),
    }
    one = _overhead([single], {"large": servers["large"]})
    two = _overhead([relay], servers)
    assert one["residual_ms_per_run"] == pytest.approx(100.0)
    assert two["residual_ms_per_run"] == pytest.approx(300.0)
    assert two["overhead_ms_per_switch"] == pytest.approx(100.0)
    assert two["own_speed_share"] == pytest.approx(3.3 / 3.6)

    class M:
        def __init__(self, mode: str, share: float | None) -> None:
            self.mode, self.own_speed_share, self.variants, self.concurrency = mode, share, [], 1

    efficiency = switch_efficiency_own_speed(
        M("relay", two["own_speed_share"]), [M("large", one["own_speed_share"])]
    )  # type: ignore[arg-type]
    assert efficiency == pytest.approx((3.3 / 3.6) / (4.1 / 4.2))
