"""The real vLLM CPU servers of the cpu-demo pair, started once per test session.

Servers already healthy on the profile's ports are reused and left running (handy in the inner loop:
`relaychat serve --profile cpu-demo` in another terminal); servers started here are stopped at the end.
Every test in this folder is marked `integration`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from relaychat.backends.vllm import VLLMBackend
from relaychat.core.events import Role
from relaychat.core.profile import PairProfile, load_profile
from relaychat.serving.manager import running_servers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def demo_profile() -> Iterator[PairProfile]:
    profile = load_profile("cpu-demo")

    def progress(message: str, fraction: float | None) -> None:
        if fraction in (None, 1.0) or int((fraction or 0) * 100) % 20 == 0:
            print(f"[cpu-demo servers] {message}", flush=True)

    with running_servers(profile, progress, timeout=900):
        yield profile


@pytest.fixture
async def demo_backends(demo_profile: PairProfile) -> AsyncIterator[dict[Role, VLLMBackend]]:
    backends: dict[Role, VLLMBackend] = {
        "large": VLLMBackend(demo_profile.large.url),
        "small": VLLMBackend(demo_profile.small.url),
    }
    yield backends
    for backend in backends.values():
        await backend.aclose()
