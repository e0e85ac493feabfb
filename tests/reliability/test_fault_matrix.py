"""The fault matrix of docs/reliability.md, one `relaychat run` per fault: exit code and failure kind.

Each fault hits the large model's first streamed request; the small model answers normally.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.fault_server import Fault
from tests.reliability.conftest import Pair, last_event, relaychat, traces

MATRIX = [
    # fault, exit code, last event, failure kind
    (Fault("none"), 0, "finished", None),
    (Fault("refuse"), 1, "failed", "server"),
    (Fault("die", after=2), 1, "failed", "server"),
    (Fault("truncate", after=2), 1, "failed", "protocol"),
    (Fault("status", status=400), 1, "failed", "http"),
    (Fault("status", status=400, style="old"), 1, "failed", "http"),
    (Fault("status", status=500), 1, "failed", "server"),
    (Fault("status", status=429, retry_after="3"), 1, "failed", "busy"),
    (Fault("status", status=503, style="old"), 1, "failed", "busy"),
    (Fault("non_object", after=2), 1, "failed", "protocol"),
    (Fault("bad_json", after=2), 1, "failed", "protocol"),
    (Fault("empty_chunks"), 0, "finished", None),
    (Fault("huge_chunk", after=1), 0, "finished", None),
    (Fault("stall", after=2, seconds=1.5), 0, "finished", None),
]


@pytest.mark.parametrize(("fault", "code", "last", "kind"), MATRIX, ids=lambda v: getattr(v, "kind", None))
def test_fault_matrix(
    pair: Pair, _isolated_home: Path, fault: Fault, code: int, last: str, kind: str | None
) -> None:
    pair.large.plan(fault)
    result = relaychat("run", "--profile", str(pair.profile), "--no-autostart", "What is 2 + 2?")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    event = last_event(traces(_isolated_home)[-1])
    assert event["type"] == last
    if kind is not None:
        assert event["error"]["kind"] == kind  # type: ignore[index]
        assert result.stderr.startswith("error:")
    if fault.kind == "status":
        assert '"object"' not in result.stderr and "fake failure" in result.stderr  # the message, not JSON
