"""vLLM-benchmark-style text blocks (mean / median / P99) and a one-line-per-scenario comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table

from relaychat.bench.gap import GapParts
from relaychat.bench.metrics import Distribution, ScenarioMetrics
from relaychat.serving.records import ServersSetup

WIDTH = 60


def _line(label: str, value: object) -> str:
    return f"{label + ':':<44}{value}"


def _header(title: str, fill: str = "-") -> str:
    return f" {title} ".center(WIDTH, fill)


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _dist(title: str, name: str, unit: str, d: Distribution) -> list[str]:
    return [
        _header(title),
        _line(f"Mean {name} ({unit})", _num(d.mean)),
        _line(f"Median {name} ({unit})", _num(d.median)),
        _line(f"P99 {name} ({unit})", _num(d.p99)),
    ]


def setup_lines(setup: ServersSetup) -> list[str]:
    """The machine and serving setup a result was measured on (`serving.setup_plan.servers_setup`)."""
    cpu = setup.cpu
    lines = []
    if cpu:
        features = ", ".join(str(f) for f in cpu.get("features") or []) or "none found"
        lines.append(_line("CPU", f"{cpu.get('model')} ({cpu.get('cores')} cores)"))
        lines.append(_line("CPU features", features))
    for role, server in setup.servers.items():
        lines.append(_line(f"{role}: dtype / KV block size", f"{server.dtype} / {server.block_size}"))
        if server.costs is not None:
            costs = server.costs
            lines.append(
                _line(
                    f"{role}: prefill / decode ms per token",
                    f"{_num(costs.prefill_ms_per_token)} / {_num(costs.decode_ms_per_token)}",
                )
            )
    if setup.feed_every:
        lines.append(_line("Feed every (tokens)", setup.feed_every))
    return lines


def _gap_lines(gap: GapParts) -> list[str]:
    return [
        _header("Switch gap decomposed (medians; derived)"),
        _line("Gap (ms)", _num(gap.gap_ms)),
        _line("  client (ms)", _num(gap.client_ms)),
        _line("  cached floor (ms)", _num(gap.floor_ms)),
        _line("  tail recompute, expected (ms)", _num(gap.tail_ms)),
        _line("  queueing behind a feed + rest (ms)", _num(gap.queue_and_rest_ms)),
    ]


def text_block(
    m: ScenarioMetrics,
    floors: Mapping[str, float] | None = None,
    setup: Sequence[str] = (),
    gap: GapParts | None = None,
) -> str:
    """vLLM-style text block of one scenario; `floors`: each server's cached TTFT (ms), the physical floor;
    `setup`: the machine and serving setup lines; `gap`: the switch gap decomposed."""
    lines = [
        _header(f"Relay benchmark: {m.scenario}", "="),
        _line("Mode / concurrent sessions", f"{m.mode} / {m.concurrency}"),
        _line("Successful runs", m.runs),
        _line("Failed runs", m.failed),
        _line("Benchmark duration (s)", _num(m.duration_s)),
        _line("Total output tokens", m.output_tokens),
        _line("Tokens streamed past a cut (dropped)", m.received_tokens - m.output_tokens),
        _line("Output token throughput (tok/s)", _num(m.output_throughput_tok_s)),
        _line("Run throughput (runs/s)", _num(m.run_throughput_per_s, 3)),
        _line("Large-model share (%)", _num(m.large_share * 100 if m.large_share is not None else None, 1)),
        _line("Switches (per run)", f"{m.switches} ({_num(m.switches / m.runs if m.runs else None, 1)})"),
        *_dist("End-to-end latency", "latency", "ms", m.latency_ms),
        *_dist("Time to First Token", "TTFT", "ms", m.ttft_ms),
        *_dist("Time per Output Token (excl. 1st token)", "TPOT", "ms", m.tpot_ms),
    ]
    if m.switch_gap_ms.n:
        lines += _dist("Handoff gap (last token -> other model's first token)", "gap", "ms", m.switch_gap_ms)
        lines += [
            _line("  of which next model's TTFT, median (ms)", _num(m.switch_next_ttft_ms.median)),
            _line("  of which client side, median (ms)", _num(m.switch_client_ms.median)),
        ]
        for role, d in m.switch_gap_into_ms.items():
            floor = (floors or {}).get(role)
            versus = f" (cached TTFT {floor:.1f})" if floor is not None else ""
            lines.append(_line(f"  switches into {role}: median gap (ms)", f"{_num(d.median)}{versus}"))
        if m.early_starts or m.early_cancelled:
            lines.append(
                _line("  started early (before the cut) / switches", f"{m.early_starts} / {m.switches}")
            )
    if gap is not None:
        lines += _gap_lines(gap)
    lines += [
        _header("Switch overhead (drift-robust: beyond the servers' own time per token)"),
        _line("Overhead per switch (ms)", _num(m.overhead_ms_per_switch, 1)),
        _line("Excess per run (ms)", _num(m.residual_ms_per_run, 1)),
        _line("Share of time at the servers' own speed", _num(m.own_speed_share, 3)),
        _line("Cue detection", m.cue_detection or "-"),
        _line("Tokens streamed past a cue (dropped)", m.discarded_after_cues),
        _line("Prefill-ahead feeds", m.prefill_feeds),
        _line("Early starts cancelled (tokens wasted)", f"{m.early_cancelled} ({m.early_wasted_tokens})"),
        _line(
            "Started from empty prefix caches", "yes" if m.cold_cache else "no (scenarios share cache state)"
        ),
        _header("Client CPU"),
        _line("Client CPU time (s)", _num(m.client_cpu_s, 3)),
        _line("Client CPU per received token (ms)", _num(m.client_cpu_ms_per_token, 3)),
    ]
    if m.servers:
        lines.append(_header("Server counters (/metrics deltas)"))
        for role, server in m.servers.items():
            rate = _num(server.hit_rate * 100 if server.hit_rate is not None else None, 1)
            lines.append(
                _line(f"{role}: prompt tokens / cache hit rate (%)", f"{server.prompt_tokens:.0f} / {rate}")
            )
            segments = m.role_segments.get(role, 0)
            per = server.computed_prompt_tokens / segments if segments else None
            lines.append(_line(f"{role}: prefilled tokens per segment", _num(per, 1)))
            lines.append(_line(f"{role}: generated tokens", f"{server.generation_tokens:.0f}"))
    if setup:
        lines += [_header("Machine and serving setup"), *setup]
    lines.append("=" * WIDTH)
    return "\n".join(lines)


def _single_model(m: ScenarioMetrics, results: Sequence[ScenarioMetrics]) -> ScenarioMetrics | None:
    """The single-model scenario of the same run (`large`, else `small`) at the same concurrency."""
    return next(
        (
            r
            for mode in ("large", "small")
            for r in results
            if r.mode == mode and not r.variants and r.concurrency == m.concurrency
        ),
        None,
    )


def switch_efficiency(m: ScenarioMetrics, results: Sequence[ScenarioMetrics]) -> float | None:
    """Output tok/s relative to the single-model scenario of the same run."""
    base = _single_model(m, results)
    if base is None or not base.output_throughput_tok_s or m.output_throughput_tok_s is None:
        return None
    return m.output_throughput_tok_s / base.output_throughput_tok_s


def switch_efficiency_own_speed(m: ScenarioMetrics, results: Sequence[ScenarioMetrics]) -> float | None:
    """Switch efficiency with each server's speed taken from its own counters in the same runs.

    The tok/s ratio compares the relay with one server on one core; in the same-model setup the relay
    also uses the other core, so a core that happens to run faster or slower (a shared VM) moves that
    ratio (seen here: 1.015 for the naive relay). This compares the share of wall time spent at the
    servers' own speed instead.
    """
    base = _single_model(m, results)
    if base is None or not base.own_speed_share or m.own_speed_share is None:
        return None
    return m.own_speed_share / base.own_speed_share


def net_overhead_ms_per_switch(m: ScenarioMetrics, results: Sequence[ScenarioMetrics]) -> float | None:
    """Overhead per switch beyond what a run costs anyway: the excess per run minus the single model's.

    A single-model run also takes a little longer than its first TTFT plus tokens x the server's own
    time per token (the end of the stream, the request, rounding in vLLM's histogram); that residual,
    measured in the same bench run, is not a cost of switching.
    """
    base = _single_model(m, results)
    if base is None or base.residual_ms_per_run is None or m.residual_ms_per_run is None or not m.switches:
        return None
    return (m.residual_ms_per_run - base.residual_ms_per_run) * m.runs / m.switches


def comparison_table(results: Sequence[ScenarioMetrics]) -> Table:
    table = Table(title="scenarios side by side (medians)", title_justify="left", header_style="bold")
    columns = [
        "scenario",
        "runs",
        "tok/s",
        "efficiency (tok/s, own speed)",
        "latency ms",
        "TTFT ms",
        "TPOT ms",
        "switches/run",
        "gap ms",
        "client ms/switch",
        "overhead ms/switch",
        "net overhead ms/switch",
        "early/switch",
        "dropped/cue",
        "CPU ms/tok",
        "large hit %",
        "small hit %",
    ]
    for name in columns:
        table.add_column(name, justify="left" if name == "scenario" else "right", no_wrap=True)
    for m in results:
        hits = {r: d.hit_rate for r, d in m.servers.items()}
        table.add_row(
            m.scenario,
            f"{m.runs}" + (f" ({m.failed} failed)" if m.failed else ""),
            _num(m.output_throughput_tok_s, 1),
            f"{_num(switch_efficiency(m, results), 3)}, {_num(switch_efficiency_own_speed(m, results), 3)}",
            _num(m.latency_ms.median, 0),
            _num(m.ttft_ms.median, 0),
            _num(m.tpot_ms.median, 1),
            _num(m.switches / m.runs if m.runs else None, 1),
            _num(m.switch_gap_ms.median, 1),
            _num(m.switch_client_ms.median, 1),
            _num(m.overhead_ms_per_switch, 1),
            _num(net_overhead_ms_per_switch(m, results), 1),
            _num(m.early_starts / m.switches if m.switches else None, 2),
            _num(m.discarded_after_cues / m.switches * 2 if m.switches else None, 2),
            _num(m.client_cpu_ms_per_token, 3),
            _num(_percent(hits.get("large")), 1),
            _num(_percent(hits.get("small")), 1),
        )
    return table


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else fraction * 100
