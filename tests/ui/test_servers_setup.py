"""The servers panel shows each server's serving setup and why; the chat relays with the measured cadence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relaychat.backends.scripted import ScriptedBackend
from relaychat.core.profile import load_profile
from relaychat.serving.costs import ServerCosts
from relaychat.serving.records import SetupRecord
from relaychat.serving.records import write_setup as write_record
from relaychat.ui.servers import ServerKeeper
from relaychat.ui.widgets.status_panel import StatusPanel
from tests.ui.conftest import SIZE, Scripted, make_app, wait_until


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RELAYCHAT_CACHE", str(tmp_path))
    return tmp_path


def _record(url: str, prefill: float = 0.8, decode: float = 30.0) -> SetupRecord:
    costs = ServerCosts(
        model="m",
        dtype="float32",
        block_size=32,
        prefill_ms_per_token=prefill,
        decode_ms_per_token=decode,
        cached_ttft_ms=50.0,
        request_ms=30.0,
    )
    record = SetupRecord(
        url=url,
        pid=os.getpid(),
        model="m",
        dtype="float32",
        block_size=32,
        reason="no native bf16 (AVX2): bf16 prefill is slow; ...",
        why="auto: no native bf16",
        costs=costs,
    )
    write_record(record)
    return record


def test_the_keeper_reads_the_setups_of_the_servers_its_backends_talk_to() -> None:
    profile = load_profile("cpu-demo")
    for role in ("large", "small"):
        _record(profile.spec(role).url, decode=30.0 if role == "large" else 1.9)
    at_the_servers = {
        "large": ScriptedBackend(profile.large.url),
        "small": ScriptedBackend(profile.small.url),
    }
    real = ServerKeeper(profile, at_the_servers, autostart=False)
    assert {r: s.summary() for r, s in real.setups().items()} == {
        "large": "fp32, block 32",
        "small": "fp32, block 32",
    }
    policy = real.feed_policy()
    assert policy is not None and policy.feed_every == 64  # the small model writes fast: 32-token feeds lag
    scripted = ServerKeeper(
        profile, {"large": ScriptedBackend("http://l"), "small": ScriptedBackend("http://s")}, autostart=False
    )
    assert scripted.setups() == {} and scripted.feed_policy() is None  # other servers' costs never apply


async def test_the_panel_shows_the_setup_and_the_chat_uses_the_measured_cadence(
    scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    large, small = "http://127.0.0.1:1/large", "http://127.0.0.1:1/small"  # the scripted backends' URLs
    records = {large: _record(large), small: _record(small, decode=1.9)}  # as if started here
    monkeypatch.setattr("relaychat.relay.read_setup", lambda url, check_alive=True: records.get(url))
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.chat.query_one(StatusPanel)
        await wait_until(pilot, lambda: "weights fp32, KV block 32" in str(panel.content))
        assert "auto: no native bf16" in str(panel.content)
        assert "AVX2" in str(panel.tooltip)
        relay = app.chat.keeper.relay
        assert relay.options(app.chat.settings.options()).feed_every == 64  # not the default 32: measured
