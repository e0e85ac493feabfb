"""The cost-model format, the projection of a trace's structure through it, and `relaychat project`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relaychat.core.events import (
    ErrorInfo,
    RelayEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    RunSummary,
    SegmentEnded,
    SegmentStarted,
    Switch,
    TokenDelta,
)
from relaychat.core.trace import TraceWriter
from relaychat.projection.costmodel import CostModelError, load_cost_model, parse_cost_model
from relaychat.projection.project import project
from relaychat.projection.shape import SegmentShape, ShapeError, TraceShape, shape_of
from relaychat.serving.costs import ServerCosts

SAMPLE = Path(__file__).parents[3] / "relaychat" / "ui" / "samples" / "demo-trace.jsonl"


def operating_point(every: int, pairs: int, prompt: int = 2000) -> TraceShape:
    """Large and small turns alternating, one switch pair every `every` tokens, ~69.8 % large."""
    large = round(every * 0.698)
    segments = []
    for _ in range(pairs):
        segments.append(SegmentShape("large", "reasoning", large, large, False, False))
        segments.append(SegmentShape("small", "reasoning", every - large, every - large, False, False))
    return TraceShape("op", "relay", "x", prompt, False, tuple(segments), 0.0, 2 * pairs - 1)


def synthetic_events(turns: list[tuple[str, int]], failed: bool = False) -> list[RelayEvent]:
    """A whole trace: each (model, tokens) a segment streamed at 10 ms per token."""
    events: list[RelayEvent] = [
        RunStarted(
            t=0.0,
            run_id="r",
            mode="relay",
            profile="x",
            large_model="L",
            small_model="S",
            answer_model="small",
            messages=[{"role": "user", "content": "q" * 40}],
            max_tokens=999,
            cues=["So,"],
            handoff="text",
        )
    ]
    t = 0.0
    for index, (model, tokens) in enumerate(turns):
        if index:
            events.append(Switch(t=t, from_model=turns[index - 1][0], to_model=model, reason="cue"))
        events.append(SegmentStarted(t=t, index=index, model=model, stage="reasoning", trigger="start"))
        for _ in range(tokens):
            t += 0.01
            events.append(
                TokenDelta(t=t, model=model, segment=index, stage="reasoning", text=" x", token_ids=[1])
            )
        events.append(
            SegmentEnded(t=t, index=index, model=model, stage="reasoning", reason="cue", tokens=tokens)
        )
    summary = RunSummary(mode="relay", profile="x", switches=len(turns) - 1, wall_s=t)
    if failed:
        events.append(RunFailed(t=t, error=ErrorInfo(kind="connection", message="gone"), summary=summary))
    else:
        events.append(RunFinished(t=t, summary=summary))
    return events


def test_the_h200_table_gives_the_papers_operating_point() -> None:
    """69.8 % large tokens: ~1.37x token-cost bound, ~1.32x with a cold handoff every 50 tokens."""
    costs = load_cost_model("h200-qwen3")
    assert costs.cost_ratio == pytest.approx(0.11, abs=0.005)
    p = project(operating_point(50, 20), costs)
    assert p.bound_speedup == pytest.approx(1.37, abs=0.015)
    assert p.cold_speedup == pytest.approx(1.32, abs=0.015)
    assert p.share_bound == pytest.approx(1 / 0.7, abs=0.01)
    every25 = project(operating_point(25, 40), costs)
    assert every25.cold_speedup < p.cold_speedup  # more switches, more overhead
    assert p.cold_switch_overhead_s >= p.switch_overhead_s > 0


def test_costs_interpolate_in_chunk_and_context_and_hold_outside() -> None:
    large = load_cost_model("h200-qwen3").large
    assert large.decode_ms(4096) == pytest.approx(19.2873)
    assert large.decode_ms(100) == large.decode_ms(4096)  # below the table: held
    assert large.decode_ms(40000) == large.decode_ms(16384)
    mid = large.decode_ms((4096 + 16384) / 2)
    assert mid == pytest.approx((19.2873 + 19.9822) / 2)
    assert large.chunk_ms(32, 4096) == pytest.approx(22.5302)
    assert 22.5302 < large.chunk_ms(48, 4096) < 23.3269
    assert large.chunk_ms(1024, 4096) == pytest.approx(65.715 * 2)  # chunks of the largest size
    assert large.chunk_ms(0, 4096) == 0


def test_a_cost_model_file_that_is_not_one_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "costs.json"
    bad.write_text(json.dumps({"format": "relaychat-costs/1", "name": "x"}))
    with pytest.raises(CostModelError, match="is not a RelayChat cost model"):
        load_cost_model(bad)
    with pytest.raises(CostModelError, match="no cost model"):
        load_cost_model(tmp_path / "missing.json")
    table = load_cost_model("h200-r1")
    assert parse_cost_model(table.dump(), "copy") == table  # the format round-trips


def test_shape_counts_segments_and_refuses_failed_or_partial_runs() -> None:
    shape = shape_of(synthetic_events([("large", 30), ("small", 10), ("large", 5)]))
    assert [s.tokens for s in shape.segments] == [30, 10, 5]
    assert shape.large_share == pytest.approx(35 / 45)
    assert shape.prompt_estimated and shape.prompt_tokens == 10 + 16
    with pytest.raises(ShapeError, match="the run failed"):
        shape_of(synthetic_events([("large", 3)], failed=True))
    with pytest.raises(ShapeError, match="before the run finished"):
        shape_of(synthetic_events([("large", 3)])[:-1])


def test_warm_handoffs_read_only_the_tail_after_the_last_fed_block() -> None:
    costs = load_cost_model("h200-qwen3")
    shape = shape_of(synthetic_events([("large", 300), ("small", 40), ("large", 300)]))
    p = project(shape, costs)
    assert p.relay_s < p.relay_cold_s  # the small model's first turn reads ~326 tokens cold
    assert p.large_only_s > p.relay_s > p.ideal_s


def test_a_large_only_trace_projects_to_no_speedup() -> None:
    costs = load_cost_model("h200-qwen3")
    p = project(shape_of(synthetic_events([("large", 200)])), costs)
    assert p.projected_speedup == pytest.approx(1.0)
    assert p.switch_overhead_s == pytest.approx(0.0, abs=1e-9)


def probed(decode: float, floor: float, prefill: float) -> ServerCosts:
    """What the cost probe reports for one server (ms)."""
    return ServerCosts(
        model="m",
        dtype="bfloat16",
        block_size=32,
        prefill_ms_per_token=prefill,
        decode_ms_per_token=decode,
        cached_ttft_ms=floor,
    )


def _save(path: Path, events: list[RelayEvent]) -> Path:
    with TraceWriter(path) as writer:
        for event in events:
            writer.write(event)
    return path


def test_cli_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from relaychat.cli import main

    trace = _save(tmp_path / "a.jsonl", synthetic_events([("large", 35), ("small", 15)] * 10))
    with pytest.raises(SystemExit) as exit_:
        main.main(["project", str(trace), str(SAMPLE), "--json"])
    assert exit_.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["target"] == "h200-qwen3"
    assert len(data["traces"]) == 2
    for row in [*data["traces"], data["total"]]:
        assert {"projected_speedup", "bound_speedup", "switch_overhead_s"} <= row.keys()
        assert 1.0 < row["projected_speedup"] <= row["bound_speedup"] <= row["share_bound"]
        # the wall time is reported; the projection as it ran only on a measured cost model (below)
        assert row["measured_wall_s"] > 0 and row["as_run_error"] is None
    with pytest.raises(SystemExit) as exit_:
        main.main(["project", str(trace), "--on", "h200-r1"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "projected on R1-Distill-Qwen-32B" in out and "speedup" in out and "bound" in out


@pytest.mark.parametrize("kind", ["failed", "folder", "missing", "other"])
def test_cli_a_trace_that_cannot_be_projected_is_one_line_exit_2(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from relaychat.cli import main

    target = {
        "failed": _save(tmp_path / "f.jsonl", synthetic_events([("large", 5)], failed=True)),
        "folder": tmp_path,
        "missing": tmp_path / "nope.jsonl",
        "other": tmp_path / "other.jsonl",
    }[kind]
    if kind == "other":
        target.write_text('{"hello": "world"}\n')
    with pytest.raises(SystemExit) as exit_:
        main.main(["project", str(target)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot project" in err and "Traceback" not in err


def test_measured_costs_become_a_cost_model_whose_first_token_matches_the_probe() -> None:
    """A request with k uncached tokens reaches its first token at floor + (k - 1) x prefill."""
    from relaychat.core.profile import load_profile
    from relaychat.projection.measured import cost_model_of

    profile = load_profile("cpu-demo")
    model = cost_model_of(
        profile,
        {"large": probed(30.0, 52.0, 0.8), "small": probed(15.0, 40.0, 0.8)},
        {"large": 33.0, "small": None},
        "test cpu",
        32,
    )
    again = parse_cost_model(model.dump(), "measured")
    large = again.large
    assert large.request_ms + large.chunk_ms(11, 0) == pytest.approx(52.0 + 10 * 0.8)
    assert large.decode_ms(512) == pytest.approx(33.0) and large.decode_ms(256) == pytest.approx(31.5)
    assert again.small.decode_ms(900) == 15.0 and again.provenance.source == "measured"


def test_cli_on_a_saved_trace_at_the_papers_operating_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A saved trace with ~70 % large tokens and a switch pair every 50 tokens: ~1.37x bound, ~1.32x
    with cold handoffs, in the JSON of `relaychat project`."""
    from relaychat.cli import main

    trace = _save(tmp_path / "op.jsonl", synthetic_events([("large", 35), ("small", 15)] * 40))
    with pytest.raises(SystemExit) as exit_:
        main.main(["project", str(trace), "--json"])
    assert exit_.value.code == 0
    row = json.loads(capsys.readouterr().out)["traces"][0]
    assert row["large_share"] == pytest.approx(0.70)
    assert row["bound_speedup"] == pytest.approx(1.37, abs=0.015)
    assert row["cold_speedup"] == pytest.approx(1.32, abs=0.015)
    assert row["cold_speedup"] <= row["projected_speedup"] < row["bound_speedup"] < row["share_bound"]


def test_a_trace_projected_on_the_costs_it_ran_at_matches_its_wall_time() -> None:
    """The check `relaychat project --json` offers for any saved run: on a measured cost model the
    projection as run sits beside the measured wall time; on a GPU table that gap is not reported."""
    from relaychat.core.profile import load_profile
    from relaychat.projection.measured import cost_model_of

    measured = cost_model_of(  # the synthetic trace streams a token every 10 ms
        load_profile("cpu-demo"),
        {"large": probed(10.0, 10.0, 0.0), "small": probed(10.0, 10.0, 0.0)},
        {"large": None, "small": None},
        "test cpu",
        32,
    )
    shape = shape_of(synthetic_events([("large", 35), ("small", 15)] * 4))
    row = project(shape, measured).as_json()
    assert row["measured_wall_s"] == pytest.approx(2.0)
    assert row["as_run_error"] == pytest.approx(0.0, abs=0.02)
    on_table = project(shape, load_cost_model("h200-qwen3")).as_json()
    assert on_table["projected_as_run_s"] is None and on_table["as_run_error"] is None


def test_a_text_prompts_length_is_the_servers_count_from_the_first_segments_end() -> None:
    """Text prompts (no shared tokenizer): the server's count, worked examples and all, not an
    estimate from the question alone (that missed ~450 tokens of the demo's examples)."""
    events = synthetic_events([("large", 30), ("small", 10)])
    first_end = next(i for i, e in enumerate(events) if isinstance(e, SegmentEnded))
    events[first_end] = events[first_end].model_copy(update={"prompt_tokens": 480})
    shape = shape_of(events)
    assert shape.prompt_tokens == 480 and not shape.prompt_estimated
    assert shape_of(synthetic_events([("large", 30)])).prompt_estimated  # an older trace: estimated
    # Each model's own prompt: the small model's first request held its 77-token prompt and the 30
    # relayed tokens; it does not read the large model's worked examples.
    second_end = next(i for i, e in enumerate(events) if isinstance(e, SegmentEnded) and i > first_end)
    events[second_end] = events[second_end].model_copy(update={"prompt_tokens": 77 + 30})
    own = shape_of(events)
    assert (own.prefix("large"), own.prefix("small")) == (480, 77)
    costs = load_cost_model("h200-qwen3")
    assert project(own, costs).relay_cold_s < project(shape, costs).relay_cold_s
