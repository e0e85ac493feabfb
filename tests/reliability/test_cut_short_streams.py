"""Row 1: a stream that ends without a finish reason is a `protocol` failure, never a normal end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.fault_server import Fault
from tests.reliability.conftest import Pair, last_event, relaychat, traces


def test_run_reports_a_stream_cut_mid_line_as_a_protocol_failure(pair: Pair, _isolated_home: Path) -> None:
    pair.large.plan(Fault("truncate", after=2))
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "What is 2 + 2?")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "without a finish reason" in result.stderr
    assert "ended by" not in result.stdout or "eos" not in result.stdout
    failed = last_event(traces(_isolated_home)[-1])
    assert failed["type"] == "failed"
    assert failed["error"]["kind"] == "protocol"  # type: ignore[index]
    assert failed["summary"]["reasoning"] == "Two plus"  # type: ignore[index]  # the partial output is kept


def test_a_stream_with_done_but_no_finish_reason_fails_too(pair: Pair, _isolated_home: Path) -> None:
    pair.small.plan(Fault("no_finish"))  # the answer stream: not cut by the client, so it reads to the end
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "What is 2 + 2?")
    assert result.returncode == 1
    assert last_event(traces(_isolated_home)[-1])["error"]["kind"] == "protocol"  # type: ignore[index]


def test_eval_retries_a_cut_short_sample_instead_of_scoring_it_wrong(pair: Pair, tmp_path: Path) -> None:
    dataset = tmp_path / "one.jsonl"
    dataset.write_text(json.dumps({"id": "p1", "problem": "What is 2 + 2?", "answer": "4"}) + "\n")
    pair.small.plan(Fault("truncate", after=2))  # the first answer is cut after "The answer"
    out = tmp_path / "run"
    result = relaychat(
        "eval", "--dataset", str(dataset), "--modes", "relay", "--retries", "1", "--out", str(out),
        "--profile", str(pair.profile), "--no-autostart", timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["status"] == "ok" and records[0]["attempts"] == 2
    assert records[0]["correct"] is True
