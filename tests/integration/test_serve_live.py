"""Starting servers: the warm-up request a fresh server gets before `serve` reports it ready."""

from __future__ import annotations

import re

import httpx

from relaychat.core.profile import PairProfile
from relaychat.serving.manager import Server, warm_up


def generated(url: str) -> float:
    text = httpx.get(url.rstrip("/") + "/metrics", timeout=10).text
    return float(re.search(r"^vllm:generation_tokens_total\{[^}]*\} (\S+)", text, re.MULTILINE).group(1))  # type: ignore[union-attr]


def test_warm_up_runs_a_relay_shaped_request_on_each_server(demo_profile: PairProfile) -> None:
    for server in (Server("large", demo_profile.large), Server("small", demo_profile.small)):
        before = generated(server.url)
        assert warm_up(server)
        assert 1 <= generated(server.url) - before <= 4  # its few sampled tokens, nothing else
