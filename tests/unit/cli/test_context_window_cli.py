"""`relaychat run` against fake vLLM servers with a small context window: an answer and `context_limit`
(exit 0), and a question too long for the window is one clear error (exit 2) before any generation."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaychat.core.profile import load_profile
from relaychat.core.prompt import render_prefix

QUESTION = "What is 2 + 2?"


def _window() -> int:
    """A window a couple of dozen tokens past the cpu-demo prompt (the fake counts 4 characters a
    token), whatever the profile's worked examples weigh: the run reaches the window before the
    fake's recorded replies end."""
    profile = load_profile("cpu-demo")
    prompt = max(
        len(render_prefix(profile.spec(role).prompt, [{"role": "user", "content": QUESTION}]))
        for role in ("large", "small")
    )
    return prompt // 4 + 24


WINDOW = _window()


@pytest.fixture
def small_window_servers() -> Iterator[tuple[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "relaychat.bench.fake_vllm", "--serve", "large=0", "--serve", "small=0",
         "--max-model-len", str(WINDOW)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        ports = dict(item.split("=") for item in ready[1:])
        yield f"http://127.0.0.1:{ports['large']}", f"http://127.0.0.1:{ports['small']}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _run(
    urls: tuple[str, str], tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relaychat.cli.main", "run", "--profile", "cpu-demo", "--no-autostart",
         "--large-url", urls[0], "--small-url", urls[1], "--trace", str(tmp_path / "trace.jsonl"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def test_a_run_past_the_window_answers_and_ends_with_context_limit(
    small_window_servers: tuple[str, str], tmp_path: Path
) -> None:
    result = _run(small_window_servers, tmp_path, "--max-tokens", "3000", QUESTION)
    assert result.returncode == 0, result.stderr
    assert "context_limit" in result.stdout  # the summary says why it ended
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "finished"
    summary = events[-1]["summary"]
    assert summary["answer"].strip()
    assert "context_limit" in (summary["finish_reason"], summary["reasoning_ended_by"])
    reasons = {e["reason"] for e in events if e["type"] == "segment_end"}
    assert "context_limit" in reasons


def test_a_question_longer_than_the_window_is_exit_2_before_any_generation(
    small_window_servers: tuple[str, str], tmp_path: Path
) -> None:
    question = "Add these numbers: " + " ".join(str(i) for i in range(200_000)) + ". What is the sum?"
    assert len(question) > 1_000_000
    result = _run(small_window_servers, tmp_path, "-", stdin=question)
    assert result.returncode == 2, result.stderr
    assert "too long" in result.stderr and f"context window is {WINDOW} tokens" in result.stderr
    assert "Traceback" not in result.stderr
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["type"] in ("segment_start", "token")]
