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
from relaychat.core.plan import RelayOptions
from relaychat.core.profile import load_profile
from relaychat.relay import open_relay
from relaychat.serving.records import ServersSetup

FULL = {"model": "m", "dtype": "float32", "block_size": 32, "cached_ttft_ms": 50.0, "request_ms": 30.0}
SETUP = ServersSetup.model_validate(
    {
        "cpu": {"model": "AMD EPYC 7B13", "features": ["avx2"], "cores": 2, "class": "avx2"},
        "servers": {
            "large": {
                "model": "m",
                "dtype": "float32",
                "block_size": 32,
                "costs": FULL | {"prefill_ms_per_token": 3.4, "decode_ms_per_token": 56.2},
            },
            "small": {
                "model": "m",
                "dtype": "float32",
                "block_size": 32,
                "costs": FULL | {"prefill_ms_per_token": 2.0, "decode_ms_per_token": 40.0},
            },
        },
        "feed_every": 64,
    }
)


async def _relay_metrics():  # type: ignore[no-untyped-def]
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 120, "answer_reserve": 30, "shared_tokenizer": False, "small_max_tokens": 20}
    )
    large = ScriptedBackend("http://l", name="L", default=Reply(words("Let me add. So the")))
    small = ScriptedBackend("http://s", name="S", default=Reply(words(" sum is 4. Next")))
    async with open_relay(profile, backends={"large": large, "small": small}, policy=None) as relay:
        return await run_scenario(parse_scenario("relay"), relay, BenchPlan(["2+2?", "3+3?"], max_tokens=120))


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


async def test_the_relays_feed_cadence_reaches_every_scenario_unless_a_variant_turns_feeds_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from relaychat.core.feed_policy import FeedPolicy
    from relaychat.relay import Relay

    seen: list[tuple[int, bool]] = []

    class Spy:
        async def run(self, conversation: object):  # type: ignore[no-untyped-def]
            return
            yield

    def spy(self: Relay, options: RelayOptions, **kwargs: object) -> Spy:
        seen.append((options.feed_every, options.prefill_ahead))
        return Spy()

    monkeypatch.setattr(Relay, "controller", spy)
    profile = load_profile("same-model")
    backends = {"large": ScriptedBackend("http://l"), "small": ScriptedBackend("http://s")}
    policy = FeedPolicy(feed_every=64, max_feed_tokens=None, keeps_up=True, busy_share=0.5, reason="test")
    async with open_relay(profile, backends=backends, policy=policy) as relay:
        await _run_one(parse_scenario("relay"), relay, BenchPlan(["q"]), 0, 0)
        await _run_one(parse_scenario("relay+noprefill"), relay, BenchPlan(["q"]), 0, 0)
    async with open_relay(profile, backends=backends, policy=None) as relay:
        await _run_one(parse_scenario("relay"), relay, BenchPlan(["q"]), 0, 0)
    assert seen == [(64, True), (RelayOptions().feed_every, False), (RelayOptions().feed_every, True)]


def test_bench_tunes_the_feeds_from_costs_it_measured_on_servers_started_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path))  # no setup record of a real server in sight
    from relaychat.relay import measured_policy

    setup = ServersSetup.model_validate(
        {
            "servers": {
                "large": {
                    "model": "m",
                    "dtype": "unknown",
                    "costs": FULL | {"prefill_ms_per_token": 0.8, "decode_ms_per_token": 30.0},
                },
                "small": {
                    "model": "m",
                    "dtype": "unknown",
                    "costs": FULL | {"prefill_ms_per_token": 1.0, "decode_ms_per_token": 1.9},
                },
            }
        }
    )
    known = setup.costs()
    assert set(known) == {"large", "small"} and known["small"].decode_ms_per_token == 1.9
    profile = load_profile("same-model")
    backends = {"large": ScriptedBackend(profile.large.url), "small": ScriptedBackend(profile.small.url)}
    assert measured_policy(backends) is None  # no record of these servers
    policy = measured_policy(backends, known)
    assert policy is not None and policy.feed_every == 64
    assert ServersSetup.model_validate({"servers": {"large": {"model": "m", "dtype": "x"}}}).costs() == {}


def test_the_bench_command_writes_the_setup_and_the_gap_into_every_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib

    from relaychat.cli import bench as cli_bench
    from relaychat.cli.main import main

    async def fake_bench(relay, scenarios, plan, warm, interleave, console, floors_ms=None, blocks=None):  # type: ignore[no-untyped-def]
        seen_floors.append(dict(floors_ms or {}))
        seen_blocks.append(dict(blocks or {}))
        metrics = await _relay_metrics()
        metrics = metrics.model_copy(
            update={
                "scenario": scenarios[0].name,
                "switch_gap_ms": Distribution(median=150.0, n=2),
                "switch_client_ms": Distribution(median=10.0, n=2),
                "switch_gap_into_ms": {"large": Distribution(median=150.0, n=2)},
            }
        )
        seen_tuning.append(relay.options().feed_every)
        await relay.aclose()
        return [metrics], {"large": 60.0, "small": 40.0}

    full = {"model": "m", "dtype": "float32", "block_size": 32, "cached_ttft_ms": 50.0, "request_ms": 30.0}
    setup = ServersSetup.model_validate(
        {
            "cpu": {"model": "AMD EPYC 7B13", "features": ["avx2"], "cores": 2},
            "servers": {
                role: {
                    "model": "m",
                    "dtype": "float32",
                    "block_size": 32,
                    "costs": full | {"prefill_ms_per_token": 3.4, "decode_ms_per_token": 56.2},
                }
                for role in ("large", "small")
            },
        }
    )
    seen_tuning: list[int] = []
    seen_floors: list[dict[str, float]] = []
    seen_blocks: list[dict[str, int]] = []
    monkeypatch.setattr(cli_bench, "servers_up", lambda profile, autostart: contextlib.nullcontext({}))
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
    assert document["meta"]["setup"]["feed_every"] == seen_tuning[0] == 32
    assert seen_floors == [{}]  # these costs carry no measurement time: bench measures the floor itself
    assert seen_blocks == [{"large": 32, "small": 32}]  # ... on the cost probe's prompt for these blocks

    gap = document["scenarios"][0]["gap_decomposition_ms"]
    assert gap["floor_ms"] == 60.0 and gap["tail_ms"] == pytest.approx(16 * 3.4) and gap["client_ms"] == 10.0
    printed = capsys.readouterr().out
    assert "Machine and serving setup" in printed and "tail recompute, expected (ms)" in printed


def test_bench_takes_the_floor_from_costs_measured_this_hour_only() -> None:
    from datetime import UTC, datetime, timedelta

    from relaychat.cli.bench import _recent

    assert _recent(datetime.now(UTC).isoformat())
    assert not _recent((datetime.now(UTC) - timedelta(hours=2)).isoformat())
    assert not _recent(None) and not _recent("yesterday")
