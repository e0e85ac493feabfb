"""The batched trace writer writes the same bytes as one line per event, and flushes at every non-token."""

from __future__ import annotations

from pathlib import Path

from relaychat.core import trace
from relaychat.core.events import SegmentEnded, SegmentStarted, TokenDelta, dump_event
from relaychat.core.trace import TraceWriter, load_trace
from relaychat.ui.screens.replay import bundled_trace


def test_same_bytes_as_one_line_per_event(tmp_path: Path) -> None:
    events = load_trace(bundled_trace())
    assert sum(isinstance(e, TokenDelta) for e in events) > trace.FLUSH_EVERY_LINES
    with TraceWriter(tmp_path / "t.jsonl") as writer:
        for event in events:
            writer.write(event)
    expected = "".join(dump_event(e) + "\n" for e in events)
    assert (tmp_path / "t.jsonl").read_text(encoding="utf-8") == expected
    assert load_trace(tmp_path / "t.jsonl") == events


def test_tokens_wait_for_the_next_non_token_event(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(trace, "FLUSH_EVERY_S", 3600.0)
    path = tmp_path / "t.jsonl"
    writer = TraceWriter(path)
    start = SegmentStarted(t=0, index=0, model="large", stage="reasoning", trigger="start")
    token = TokenDelta(t=0.1, model="large", segment=0, stage="reasoning", text=" a", token_ids=[1])
    writer.write(start)
    assert path.read_text() == dump_event(start) + "\n"  # structure is on disk at once
    writer.write(token)
    assert path.read_text() == dump_event(start) + "\n"  # a token is batched
    end = SegmentEnded(t=0.2, index=0, model="large", stage="reasoning", reason="eos", tokens=1)
    writer.write(end)
    assert path.read_text().splitlines() == [dump_event(e) for e in (start, token, end)]
    for i in range(trace.FLUSH_EVERY_LINES):
        writer.write(token.model_copy(update={"t": 1 + i}))
    assert len(path.read_text().splitlines()) == 3 + trace.FLUSH_EVERY_LINES  # a full batch is flushed
    writer.write(token)
    writer.close()
    assert len(path.read_text().splitlines()) == 4 + trace.FLUSH_EVERY_LINES
    writer.close()  # twice is harmless
