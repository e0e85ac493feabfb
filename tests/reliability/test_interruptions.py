"""Row 7: unique trace names, Ctrl-C/SIGTERM end the trace with `cancelled`, no grader traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.fault_server import Fault, FaultServer, profile_toml
from tests.reliability.conftest import ROOT, Pair, cli_env, last_event, spawn, traces


def test_parallel_failures_before_run_started_leave_one_trace_each(_isolated_home: Path) -> None:
    # /health answers but every /v1 call is refused: each run fails before `run_started`.
    with FaultServer(api_key="nobody-has-it") as large, FaultServer(api_key="nobody-has-it") as small:
        profile = _isolated_home / "locked.toml"
        profile.write_text(profile_toml(large.url, small.url))
        runs = [spawn("run", "--profile", str(profile), "--no-autostart", "2+2?") for _ in range(3)]
        codes = [run.wait(timeout=60) for run in runs]
    assert codes == [1, 1, 1]
    found = traces(_isolated_home)
    assert len(found) == 3
    assert all(last_event(t)["type"] == "failed" for t in found)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_ends_its_trace_with_cancelled_and_says_where(
    pair: Pair, _isolated_home: Path, sig: signal.Signals
) -> None:
    pair.large.plan(Fault("stall", after=2, seconds=30))
    run = spawn("run", "--profile", str(pair.profile), "--no-autostart", "2+2?")
    deadline = time.monotonic() + 30
    while not pair.large.completions() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the first two tokens are out; the server now stalls
    run.send_signal(sig)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 128 + sig, err  # 130 for Ctrl-C, 143 for SIGTERM (issue 23)
    assert "Traceback" not in err
    trace = traces(_isolated_home)[-1]
    assert str(trace) in err  # where the partial trace is
    failed = last_event(trace)
    assert failed["type"] == "failed" and failed["error"]["kind"] == "cancelled"  # type: ignore[index]
    assert failed["summary"]["reasoning"] == "Two plus"  # type: ignore[index]


GRADER_SCRIPT = """
import asyncio, sys
from relaychat.evaluation.datasets import Problem
from relaychat.evaluation.graders import ProcessGrader
if __name__ == "__main__":
    grader = ProcessGrader()
    print("ready", flush=True)
    try:
        asyncio.run(grader.grade(Problem(id="1", question="q", answer="4"), "\\\\boxed{4}", ""))
        print("graded")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        try:
            grader.close()  # eval's cmd_eval closes the grader the same way, in a finally
        except KeyboardInterrupt:
            print("interrupted again", file=sys.stderr)
"""


@pytest.mark.parametrize("delay", [0.05, 0.2])
def test_two_ctrl_c_while_the_grader_worker_starts_print_no_traceback(tmp_path: Path, delay: float) -> None:
    script = tmp_path / "grade_once.py"
    script.write_text(GRADER_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=ROOT,
        start_new_session=True,  # its own process group: the Ctrl-Cs reach it and its worker, not pytest
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"  # imports done
    time.sleep(delay)  # the worker is being spawned now (its imports take about a second)
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C goes to the whole foreground group
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err
