"""`calibrate` and `bench` stop on SIGTERM / SIGHUP as `run` and `eval` do: what is saved stays valid,
children stop, the exit code is 128 + the signal and one line says what was saved. Before: both died
at once (exit -15 / -1), with no word and, for `bench --client-only`, a load generator left running."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.fakes.fault_server import Fault
from tests.reliability.conftest import Pair, last_event, spawn
from tests.reliability.test_round_three import NO_TRACEBACK, _alive, _dataset, _descendants, _flat, _wait

SIGNALS = [(signal.SIGTERM, 143), (signal.SIGHUP, 129)]


def _stop(proc: object, how: signal.Signals) -> tuple[int, str]:
    proc.send_signal(how)  # type: ignore[attr-defined]
    _, stderr = proc.communicate(timeout=30)  # type: ignore[attr-defined]
    return proc.returncode, stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize(("how", "code"), SIGNALS)
def test_calibrate_on_a_stop_signal_keeps_saved_traces_and_exits_128_plus_n(
    pair: Pair, _isolated_home: Path, tmp_path: Path, how: signal.Signals, code: int
) -> None:
    pair.large.plan(Fault())  # the first trace finishes and is saved
    pair.large.default = Fault(kind="stall", after=1, seconds=60)  # the next one stays in flight
    out = tmp_path / "calibration"
    proc = spawn(
        "calibrate", "--dataset", str(_dataset(tmp_path, 3)), "--samples", "1", "--concurrency", "1",
        "--profile", str(pair.profile), "--no-autostart", "--out", str(out), "--no-plot",
    )  # fmt: skip
    try:
        saved = out / "traces.jsonl"
        _wait(lambda: saved.is_file() and saved.read_text().count("\n") >= 1)
        _wait(lambda: len(pair.large.completions()) >= 2)
        time.sleep(0.5)
        returncode, stderr = _stop(proc, how)
        assert returncode == code, stderr
        assert NO_TRACEBACK not in stderr
        said = _flat(stderr)
        assert f"stopped by {how.name}: 1 traces and" in said and str(out) in said
        assert "run the same command to resume" in said
        lines = saved.read_text().splitlines()
        assert [json.loads(line)["key"] for line in lines] == ["p0-s0"]  # whole lines, the finished one
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(("how", "code"), SIGNALS)
def test_bench_on_a_stop_signal_ends_its_trace_cancelled_and_exits_128_plus_n(
    pair: Pair, _isolated_home: Path, tmp_path: Path, how: signal.Signals, code: int
) -> None:
    pair.large.default = Fault(kind="stall", after=1, seconds=60)
    folder = tmp_path / "bench-traces"
    results = tmp_path / "bench.json"
    proc = spawn(
        "bench", "--profile", str(pair.profile), "--no-autostart", "--no-warmup", "--scenarios", "large",
        "--prompts", "2", "--save-traces", str(folder), "--json", str(results),
    )  # fmt: skip
    try:
        _wait(lambda: folder.is_dir() and any(folder.glob("large-*.jsonl")))
        time.sleep(0.5)
        returncode, stderr = _stop(proc, how)
        assert returncode == code, stderr
        assert NO_TRACEBACK not in stderr
        said = _flat(stderr)
        assert f"stopped by {how.name}: no results written; 1 traces saved in {folder}" in said
        event = last_event(next(folder.glob("large-*.jsonl")))
        assert event["type"] == "failed" and event["error"]["kind"] == "cancelled"  # type: ignore[index]
        assert not results.exists()  # a benchmark cut short is not reported as a result
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(("how", "code"), SIGNALS)
def test_bench_client_only_on_a_stop_signal_stops_its_load_generator(
    _isolated_home: Path, tmp_path: Path, how: signal.Signals, code: int
) -> None:
    results = tmp_path / "client.json"
    proc = spawn("bench", "--client-only", "--levels", "1", "--stream-rate", "5", "--json", str(results))
    try:
        _wait(lambda: bool(_descendants(proc.pid)))
        time.sleep(2)  # the load generator is up and streaming
        children = _descendants(proc.pid)
        returncode, stderr = _stop(proc, how)
        assert returncode == code, stderr
        assert NO_TRACEBACK not in stderr
        assert f"stopped by {how.name}: no results written" in _flat(stderr)
        _wait(lambda: not any(_alive(c) for c in children), timeout=10)
        assert not results.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
