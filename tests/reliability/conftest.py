"""Fixtures for the reliability tests: a pair of fault-injecting fake servers and the real CLI.

Every command runs as `python -m relaychat.cli.main ...` in a subprocess (what a user runs), under a
timeout, with this checkout first on PYTHONPATH and the test's throw-away RELAYCHAT_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.fault_server import FaultServer, profile_toml

ROOT = Path(__file__).resolve().parents[2]
LARGE_TEXT = "Two plus two is four.</think>"
SMALL_TEXT = "The answer is \\boxed{4}."
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b[31mred <script>alert(1)</script><img src=x onerror=alert(2)>"


@dataclass
class Pair:
    large: FaultServer
    small: FaultServer
    profile: Path


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with FaultServer(text=LARGE_TEXT) as large, FaultServer(text=SMALL_TEXT) as small:
        profile = tmp_path / "fake-pair.toml"
        profile.write_text(profile_toml(large.url, small.url), encoding="utf-8")
        yield Pair(large, small, profile)


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("COLUMNS", "100")
    env.update(extra)
    return env


def relaychat(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI; never hangs a test."""
    return subprocess.run(
        [sys.executable, "-m", "relaychat.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "relaychat.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or cli_env(),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def traces(home: Path) -> list[Path]:
    return sorted((home / "data" / "traces").glob("*.jsonl"))


def last_event(trace: Path) -> dict[str, object]:
    lines = [line for line in trace.read_text(encoding="utf-8").splitlines() if line.strip()]
    return json.loads(lines[-1])
