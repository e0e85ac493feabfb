"""Bench results carry the machine and serving setup, the feed cadence, and the switch gap decomposed."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaychat.backends.scripted import Reply, ScriptedBackend, words
from relaychat.bench.gap import decompose, expected_tail_ms
from relaychat.bench.metrics import Distribution
from relaychat.bench.render import setup_lines, text_block
from relaychat.bench.runner import BenchPlan, _run_one, run_scenario
from relaychat.bench.scenarios import parse_scenario
from relaychat.cli.bench import _tails
from relaychat.core.memory import WarmupMemory
from relaychat.core.profile import load_profile

SETUP = {
    "cpu": {"model": "AMD EPYC 7B13", "features": ["avx2"], "cores": 2, "class": "avx2"},
    "servers": {
        "large": {
            "dtype": "float32",
            "block_size": 32,
            "costs": {"prefill_ms_per_token": 3.4, "decode_ms_per_token": 56.2},
        },
        "small": {
            "dtype": "float32",
            "block_size": 32,
            "costs": {"prefill_ms_per_token": 2.0, "decode_ms_per_token": 40.0},
        },
    },
    "feed_every": 64,
}


async def _relay_metrics():  # type: ignore[no-untyped-def]
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 120, "answer_reserve": 30, "shared_tokenizer": False, "small_max_tokens": 20}
    )
    large = ScriptedBackend("http://l", name="L", default=Reply(words("Let me add. So the")))
    small = ScriptedBackend("http://s", name="S", default=Reply(words(" sum is 4. Next")))
    return await run_scenario(
        parse_scenario("relay"),
        profile,
        {"large": large, "small": small},
        BenchPlan(["2+2?", "3+3?"], max_tokens=120),
    )


async def test_the_gap_is_split_into_client_floor_tail_and_the_rest() -> None:
    metrics = await _relay_metrics()
    metrics = metrics.model_copy(
        update={
            "switch_gap_ms": Distribution(median=150.0, n=4),
            "switch_client_ms": Distribution(median=10.0, n=4),
            "switch_gap_into_ms": {
                "large": Distribution(median=160, n=3),
                "small": Distribution(median=120, n=1),
            },
        }
    )
    tails = _tails(SETUP)
    assert tails == {"large": pytest.approx(16 * 3.4), "small": pytest.approx(16 * 2.0)}
    gap = decompose(metrics, {"large": 60.0, "small": 40.0}, tails)
    assert gap is not None
    assert gap.client_ms == 10.0 and gap.server_ms == 140.0
    assert gap.floor_ms == pytest.approx((3 * 60 + 40) / 4)  # weighted by switches into each model
    assert gap.tail_ms == pytest.approx((3 * 54.4 + 32) / 4)
    assert gap.queue_and_rest_ms == pytest.approx(140.0 - gap.floor_ms - gap.tail_ms)
    assert decompose(metrics, {"large": 60.0, "small": 40.0}) is not None  # no costs: no tail
    assert decompose(metrics, {}) is None  # no floor measured
    text = text_block(metrics, {"large": 60.0}, setup_lines(SETUP), gap)
    for label in (
        "cached floor (ms)",
        "tail recompute, expected (ms)",
        "queueing behind a feed",
        "CPU features",
    ):
        assert label in text
    assert "float32 / 32" in text and "3.40 / 56.20" in text and "Feed every (tokens):" in text


async def test_a_scenario_without_switches_has_no_decomposition() -> None:
    metrics = await _relay_metrics()
    empty = metrics.model_copy(update={"switch_gap_ms": Distribution(), "switch_gap_into_ms": {}})
    assert decompose(empty, {"large": 60.0}) is None


def test_expected_tail_is_half_a_block_at_the_prefill_cost() -> None:
    assert expected_tail_ms(32, 25.0) == 400.0
    assert expected_tail_ms(64, 3.4) == pytest.approx(108.8)


async def test_the_bench_plans_feed_cadence_reaches_the_relay_unless_a_variant_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from relaychat.bench import runner

    seen: list[int] = []

    class Spy:
        def __init__(
            self, profile: object, backends: object, options: runner.RelayOptions, memory: object = None
        ) -> None:
            seen.append(options.feed_every)

        async def run(self, conversation: object):  # type: ignore[no-untyped-def]
            return
            yield

    monkeypatch.setattr(runner, "RelayController", Spy)
    profile = load_profile("same-model")
    backends = {"large": ScriptedBackend("http://l"), "small": ScriptedBackend("http://s")}
    memory = WarmupMemory()
    tuned = BenchPlan(["q"], tuning={"feed_every": 64})
    await _run_one(parse_scenario("relay"), profile, backends, tuned, 0, 0, memory)  # type: ignore[arg-type]
    await _run_one(parse_scenario("relay"), profile, backends, BenchPlan(["q"]), 0, 0, memory)  # type: ignore[arg-type]
    assert seen == [64, runner.RelayOptions().feed_every]


def test_bench_tunes_the_feeds_from_costs_it_measured_on_servers_started_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path))  # no setup record of a real server in sight
    from relaychat.cli.bench import _costs
    from relaychat.cli.common import relay_tuning

    full = {"model": "m", "block_size": 32, "cached_ttft_ms": 50.0, "request_ms": 30.0}
    setup = {
        "servers": {
            "large": {
                "costs": full | {"dtype": "unknown", "prefill_ms_per_token": 0.8, "decode_ms_per_token": 30.0}
            },
            "small": {
                "costs": full | {"dtype": "unknown", "prefill_ms_per_token": 1.0, "decode_ms_per_token": 1.9}
            },
        }
    }
    known = _costs(setup)
    assert set(known) == {"large", "small"} and known["small"].decode_ms_per_token == 1.9
    profile = load_profile("same-model")
    assert relay_tuning(profile) == {}  # no record of these servers
    assert relay_tuning(profile, known)["feed_every"] == 64
    assert _costs({"servers": {"large": {"costs": None}}}) == {}


def test_the_bench_command_writes_the_setup_and_the_gap_into_every_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib

    from relaychat.cli import bench as cli_bench
    from relaychat.cli.main import main

    async def fake_bench(profile, scenarios, plan, warm, interleave, console, conn=None):  # type: ignore[no-untyped-def]
        metrics = await _relay_metrics()
        metrics = metrics.model_copy(
            update={
                "scenario": scenarios[0].name,
                "switch_gap_ms": Distribution(median=150.0, n=2),
                "switch_client_ms": Distribution(median=10.0, n=2),
                "switch_gap_into_ms": {"large": Distribution(median=150.0, n=2)},
            }
        )
        seen_tuning.append(dict(plan.tuning))
        return [metrics], {"large": 60.0, "small": 40.0}

    full = {"model": "m", "dtype": "float32", "block_size": 32, "cached_ttft_ms": 50.0, "request_ms": 30.0}
    setup = {
        "cpu": {"model": "AMD EPYC 7B13", "features": ["avx2"], "cores": 2},
        "servers": {
            role: {
                "dtype": "float32",
                "block_size": 32,
                "costs": full | {"prefill_ms_per_token": 3.4, "decode_ms_per_token": 56.2},
            }
            for role in ("large", "small")
        },
    }
    seen_tuning: list[dict[str, object]] = []
    monkeypatch.setattr(cli_bench, "servers_up", lambda profile, autostart: contextlib.nullcontext())
    monkeypatch.setattr(cli_bench, "servers_setup", lambda profile: setup)
    monkeypatch.setattr(cli_bench, "_bench", fake_bench)
    out = tmp_path / "bench.json"
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["bench", "--profile", "same-model", "--scenarios", "relay", "--prompts", "1", "--json", str(out)]
        )
    assert exit_info.value.code == 0
    import json

    document = json.loads(out.read_text())
    assert document["meta"]["setup"]["cpu"]["features"] == ["avx2"]
    assert document["meta"]["setup"]["feed_every"] == seen_tuning[0]["feed_every"] == 32
    gap = document["scenarios"][0]["gap_decomposition_ms"]
    assert gap["floor_ms"] == 60.0 and gap["tail_ms"] == pytest.approx(16 * 3.4) and gap["client_ms"] == 10.0
    printed = capsys.readouterr().out
    assert "Machine and serving setup" in printed and "tail recompute, expected (ms)" in printed
