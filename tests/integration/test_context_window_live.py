"""Context windows on real vLLM: the cpu-demo pair started with a small --max-model-len on its own ports.

The relay reads the window from /v1/models, sizes every request to fit, ends the reasoning with the
marker when the large model's window fills, and `relaychat run` exits 0 with an answer and the end
reason `context_limit`; a question longer than the window is exit 2 before any generation. Start it
under the shared lock: `flock /tmp/relaychat-vllm.lock pytest tests/integration/test_context_window_live.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaychat.backends.vllm import VLLMBackend
from relaychat.core.profile import PairProfile, load_profile
from relaychat.serving.manager import running_servers

pytestmark = pytest.mark.integration

# The large model's prompt (its three worked examples and the question) is ~490 Gemma tokens: the
# windows leave it a few dozen tokens to write before they fill.
WINDOW = 540
PORTS = {"large": 8132, "small": 8131}


@pytest.fixture(scope="module")
def small_window_pair() -> Iterator[PairProfile]:
    base = load_profile("cpu-demo")
    update: dict[str, object] = {}
    for role, port in PORTS.items():
        port = int(os.environ.get(f"RELAYCHAT_TEST_WINDOW_{role.upper()}_PORT", port))
        spec = base.spec(role).model_copy(
            update={"port": port, "urls": [f"http://127.0.0.1:{port}"], "max_model_len": WINDOW}
        )
        update[role] = spec
    profile = base.model_copy(update=update)
    with running_servers(profile, lambda message, fraction: print(message, flush=True), timeout=1200):
        yield profile


def _run(
    profile: PairProfile, tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    # The built-in profile (no window override): the window comes from the servers' /v1/models.
    return subprocess.run(
        [sys.executable, "-m", "relaychat.cli.main", "run", "--profile", "cpu-demo", "--no-autostart",
         "--large-url", profile.large.url, "--small-url", profile.small.url,
         "--trace", str(tmp_path / "trace.jsonl"), *args],
        input=stdin, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


async def test_the_servers_report_their_window(small_window_pair: PairProfile) -> None:
    for role in ("large", "small"):
        backend = VLLMBackend(small_window_pair.spec(role).url)
        try:
            assert (await backend.info()).max_model_len == WINDOW
        finally:
            await backend.aclose()


def test_a_run_longer_than_the_window_answers_with_context_limit(
    small_window_pair: PairProfile, tmp_path: Path
) -> None:
    question = "Write a long story about a train that travels 120 km in 1.5 hours, then compute its speed."
    result = _run(small_window_pair, tmp_path, "--max-tokens", "3000", "--seed", "1", question)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    summary = events[-1]["summary"]
    assert events[-1]["type"] == "finished" and summary["answer"].strip()
    reasons = [e["reason"] for e in events if e["type"] == "segment_end"]
    assert "context_limit" in reasons, reasons
    assert "context_limit" in result.stdout  # the summary names it
    print(reasons, summary["finish_reason"], summary["reasoning_ended_by"], repr(summary["answer"][:200]))


def test_a_question_longer_than_the_window_is_exit_2(small_window_pair: PairProfile, tmp_path: Path) -> None:
    question = "Add these: " + " ".join(str(i) for i in range(50_000)) + ". What is the sum?"
    result = _run(small_window_pair, tmp_path, "-", stdin=question)
    assert result.returncode == 2, result.stderr
    assert f"context window is {WINDOW} tokens" in result.stderr and "Traceback" not in result.stderr


def test_a_profile_window_on_the_shared_pair_ends_with_context_limit(tmp_path: Path) -> None:
    """The profile's `max_model_len` override on the usual cpu-demo pair (windows of 4096): no extra
    servers. The relay sizes every request to the override and still answers."""
    profile = load_profile("cpu-demo")
    if not all(_healthy(profile.spec(role).url) for role in ("large", "small")):
        pytest.skip("the cpu-demo pair is not running")
    text = (Path(__file__).parents[2] / "relaychat" / "profiles" / "cpu-demo.toml").read_text(
        encoding="utf-8"
    )
    for name in ('bundled = "gemma3-270m"\n', 'bundled = "smollm2-135m-instruct"\n'):
        text = text.replace(name, name + "max_model_len = 530\n")
    path = tmp_path / "cpu-demo-530.toml"
    path.write_text(text, encoding="utf-8")
    question = "Write a long story about a train that travels 120 km in 1.5 hours, then compute its speed."
    result = subprocess.run(
        [sys.executable, "-m", "relaychat.cli.main", "run", "--profile", str(path), "--no-autostart",
         "--max-tokens", "3000", "--seed", "1", "--trace", str(tmp_path / "trace.jsonl"), question],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert events[-1]["type"] == "finished" and events[-1]["summary"]["answer"].strip()
    assert "context_limit" in [e["reason"] for e in events if e["type"] == "segment_end"]


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False
