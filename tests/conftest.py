"""Shared fixtures. Tests never write to the user's data dirs; converted models stay in the real cache."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from relaychat.paths import cache_dir

# A suite started in the background (`nohup make test &`) inherits SIGINT ignored, and so does every
# process it starts: the tests that press Ctrl-C on a child would see it ignored and fail. A handler
# (unlike "ignored") is not inherited across exec, so the children get the default back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Keep the (expensive) converted models and compile caches where they are, but send traces,
# history and settings of the tests to a throw-away home.
os.environ.setdefault("RELAYCHAT_CACHE", str(cache_dir()))

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/benchmarks/" in str(item.fspath):
            item.add_marker(pytest.mark.benchmark)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("relaychat-home")
    monkeypatch.setenv("RELAYCHAT_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Benchmark data: $RELAYCHAT_DATA, else ../shared/data beside the checkout."""
    configured = os.environ.get("RELAYCHAT_DATA")
    path = Path(configured) if configured else ROOT.parent / "shared" / "data"
    if not (path / "amc23.jsonl").exists():
        pytest.skip(f"benchmark data not found at {path} (set RELAYCHAT_DATA)")
    return path
