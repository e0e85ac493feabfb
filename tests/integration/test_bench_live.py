"""`relaychat bench` on the CPU pair: metrics consistent with the events and with the servers' counters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relaychat.backends.vllm import VLLMBackend
from relaychat.bench.metrics import RunObservation
from relaychat.bench.runner import BenchPlan, run_scenario
from relaychat.bench.scenarios import parse_scenario
from relaychat.cli.main import main
from relaychat.core.events import Role
from relaychat.core.profile import PairProfile
from relaychat.relay import open_relay

PROMPTS = ["What is the sum of the first 20 positive integers?", "Solve for x: 3x + 7 = 25."]


async def test_relay_scenario_metrics_agree_with_events_and_server_counters(
    demo_profile: PairProfile, demo_backends: dict[Role, VLLMBackend]
) -> None:
    seen: list[RunObservation] = []
    metrics = await run_scenario(
        parse_scenario("relay-x2"),
        open_relay(demo_profile, backends=demo_backends, policy=None),
        BenchPlan(PROMPTS, max_tokens=80),
        on_run=lambda _s, o: seen.append(o),
    )
    assert (metrics.runs, metrics.failed, len(seen)) == (2, 0, 2)
    summaries = [o.summary for o in seen if o.summary is not None]
    assert metrics.output_tokens == sum(s.total_tokens for s in summaries) <= 160
    assert metrics.switches == sum(s.switches for s in summaries)
    assert metrics.switch_gap_ms.n == sum(len(o.handoff_gaps_s) for o in seen) > 0
    assert metrics.switch_gap_ms.mean is not None and metrics.switch_gap_ms.mean > 0
    assert metrics.client_cpu_s > 0 and metrics.client_cpu_ms_per_token is not None
    for role in ("large", "small"):
        server = metrics.servers[role]
        received = sum(s.stats(role).tokens + s.stats(role).discarded_tokens for s in summaries)  # type: ignore[arg-type]
        # Counters only grow; other traffic on a shared server can only add to them.
        assert server.generation_tokens >= received > 0
        assert metrics.role_segments[role] > 0
        assert 0 <= server.cache_hits <= server.cache_queries
    # Every continuation prompt after a switch extends one the server has seen: its cache must hit.
    assert metrics.servers["large"].cache_hits > 0 and metrics.servers["small"].cache_hits > 0


def test_bench_command_prints_vllm_style_blocks_and_writes_json(
    demo_profile: PairProfile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "bench",
                "--profile",
                "cpu-demo",
                "--scenarios",
                "large,relay+nocues",
                "--prompts",
                "1",
                "--max-tokens",
                "40",
                "--no-warmup",
                "--no-autostart",
                "--json",
                str(out),
            ]
        )
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "Relay benchmark: large" in printed and "Relay benchmark: relay+nocues" in printed
    assert printed.count("Median TTFT (ms):") == 2
    document = json.loads(out.read_text())
    assert [s["scenario"] for s in document["scenarios"]] == ["large", "relay+nocues"]
    nocues = document["scenarios"][1]
    assert nocues["switches"] == 0 and nocues["variants"] == ["nocues"] and nocues["runs"] == 1
    assert document["meta"]["profile"] == "cpu-demo" and document["meta"]["max_tokens"] == 40
    # The machine and serving setup of every result (issue 14): CPU, each server's block size and costs.
    setup = document["meta"]["setup"]
    assert setup["cpu"]["cores"] >= 1 and isinstance(setup["cpu"]["features"], list)
    for role in ("large", "small"):
        assert setup["servers"][role]["block_size"] % 32 == 0
        assert setup["servers"][role]["costs"]["decode_ms_per_token"] > 0
    assert printed.count("Machine and serving setup") == 2 and "CPU features:" in printed
