"""Cue calibration against the real CPU pair: scoring checked against the server, the whole command
end to end (a cue-set file `relaychat run --cues` then uses), and a Ctrl-C in the middle that loses
nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relaychat.backends.vllm import VLLMBackend
from relaychat.calibration.candidates import CANDIDATE_POOL
from relaychat.calibration.scoring import margin_top_k, score_trace, small_prefix
from relaychat.core.cues import CueMatcher
from relaychat.core.cueset import load_cue_set
from relaychat.core.events import RunFinished, RunStarted, parse_event
from relaychat.core.profile import PairProfile
from relaychat.core.sentences import sentence_end

RELAYCHAT = [sys.executable, "-m", "relaychat.cli.main"]
REASONING = "So the café costs 5€ — that is 3.5 units 😀. Now, we add 2 to it.\n\nThus the total is 7."


def cli(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RELAYCHAT, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        check=False,
    )


async def test_scores_cover_exactly_the_reasoning_tokens(demo_profile: PairProfile) -> None:
    small = VLLMBackend(demo_profile.small.url)
    try:
        fmt = demo_profile.small.prompt
        scored = await score_trace(
            small,
            fmt,
            key="x",
            question="What is 5 + 2?",
            reasoning=REASONING,
            k=20,
            max_model_len=(await small.info()).max_model_len,
        )
        reasoning_ids = await small.tokenize(REASONING)
        prefix_ids = await small.tokenize(
            small_prefix(fmt, "What is 5 + 2?"), add_special_tokens=fmt.add_special_tokens
        )
        assert scored.prefix_tokens == len(prefix_ids)
        assert len(scored.margins) == len(reasoning_ids) and scored.truncated_tokens == 0
        # the spans tile the reasoning: multi-byte characters included, nothing lost or doubled
        assert scored.starts == sorted(scored.starts) and scored.ends[-1] == len(REASONING)
        assert "".join(REASONING[s:e] for s, e in zip(scored.starts, scored.ends, strict=False)) == REASONING
        # each margin is p1 - p2 of the server's own top-k at that position
        raw = await small.score(prefix_ids + reasoning_ids, top_k=20)
        for i in (0, len(reasoning_ids) // 2, len(reasoning_ids) - 1):
            assert scored.margins[i] == pytest.approx(margin_top_k(raw.top_logprobs[len(prefix_ids) + i], 20))
        assert all(0.0 <= m <= 1.0 for m in scored.margins if m is not None)
    finally:
        await small.aclose()


def _expected_occurrences(reasoning: str, cue: str) -> int:
    """Independent count: matches of the runtime matcher not at the very end of the text."""
    return sum(
        1
        for m in CueMatcher.of([cue]).find_all(reasoning)
        if (sentence_end(reasoning, m.end) or len(reasoning)) > m.end
    )


def test_calibrate_end_to_end_then_run_with_the_cue_set(
    demo_profile: PairProfile, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "calib"
    common = [
        "--profile",
        "cpu-demo",
        "--dataset",
        "amc23",
        "--data",
        str(data_dir),
        "--limit",
        "2",
        "--samples",
        "2",
        "--max-tokens",
        "120",
        "--out",
        str(out),
        "--no-autostart",
    ]
    done = cli("calibrate", *common)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "cues.json").read_text())
    traces = [json.loads(line) for line in (out / "traces.jsonl").read_text().splitlines()]
    scores = {s["key"]: s for s in map(json.loads, (out / "scores.jsonl").read_text().splitlines())}
    assert sorted(t["key"] for t in traces) == ["0-s0", "0-s1", "1-s0", "1-s1"] == sorted(scores)
    assert all(0 < t["tokens"] <= 120 and t["model"] == data["pair"]["large"] for t in traces)
    assert data["global"]["tokens"] == sum(sum(m is not None for m in s["margins"]) for s in scores.values())
    assert len(data["statistics"]) == 91 and data["rule"]["name"] == "mean-se"
    assert set(data["cues"]) == {c for c, s in data["statistics"].items() if s["selected"]}
    for cue in CANDIDATE_POOL:  # occurrences agree with an independent count over the saved traces
        assert data["statistics"][cue]["occurrences"] == sum(
            _expected_occurrences(t["reasoning"], cue) for t in traces
        )
    assert (out / "report.md").read_text().startswith("# Cue calibration") and (
        out / "margins.png"
    ).stat().st_size > 0

    # Re-analyse with the `all` rule and two always-present "cues": no generation, instant, non-empty set.
    candidates = tmp_path / "candidates.json"
    candidates.write_text(json.dumps({"cues": [*CANDIDATE_POOL, "is", "the"]}))
    again = cli(
        "calibrate", *common, "--rule", "all", "--min-occurrences", "1", "--candidates", str(candidates)
    )
    assert again.returncode == 0, again.stderr
    assert [json.loads(line)["key"] for line in (out / "traces.jsonl").read_text().splitlines()] == [
        t["key"] for t in traces
    ]
    cue_set = load_cue_set(out / "cues.json")
    assert cue_set.metadata["timing"]["resumed_items"] == 4 and cue_set.cues
    assert set(cue_set.cues) == {
        c for c, s in cue_set.metadata["statistics"].items() if s["occurrences"] >= 1
    }

    run = cli(
        "run",
        "--profile",
        "cpu-demo",
        "--cues",
        str(out / "cues.json"),
        "--max-tokens",
        "60",
        "--json",
        "--no-autostart",
        "What is 17 * 23?",
    )
    assert run.returncode == 0, run.stderr
    events = [parse_event(line) for line in run.stdout.splitlines() if line.strip()]
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.cues == cue_set.cues
    assert isinstance(events[-1], RunFinished)


def test_ctrl_c_loses_nothing_and_a_rerun_continues(
    demo_profile: PairProfile, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "calib"
    argv = [
        "calibrate",
        "--profile",
        "cpu-demo",
        "--dataset",
        "amc23",
        "--data",
        str(data_dir),
        "--limit",
        "3",
        "--samples",
        "1",
        "--max-tokens",
        "100",
        "--concurrency",
        "1",
        "--out",
        str(out),
        "--no-autostart",
    ]
    # A child started from a background job inherits SIGINT as ignored: give it back the default, as a
    # terminal would, so Python turns the signal into KeyboardInterrupt.
    process = subprocess.Popen(
        [*RELAYCHAT, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    traces = out / "traces.jsonl"
    deadline = time.monotonic() + 300
    while process.poll() is None and not (traces.exists() and traces.read_text().count("\n") >= 1):
        assert time.monotonic() < deadline, "no trace finished in time"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    saved = [json.loads(line)["key"] for line in traces.read_text().splitlines()]
    assert process.returncode == 130 and "interrupted" in err, err
    assert 1 <= len(saved) < 3
    done = cli(*argv)
    assert done.returncode == 0, done.stderr
    keys = [json.loads(line)["key"] for line in traces.read_text().splitlines()]
    assert sorted(keys) == ["0-s0", "1-s0", "2-s0"] and keys[: len(saved)] == saved  # nothing redone
    assert load_cue_set(out / "cues.json").metadata["dataset"]["problems"] == 3
