"""The chat app on a disk that fills mid-answer, against the fault server over real HTTP: the answer
stays on screen, one warning says the trace stopped being saved and where its valid part is, the
trace keeps whole lines only, and the app goes on answering. Before: the trace's write error was
not reported at all (the chat passed no `on_write_error`), and a session log that could not be
written ended the app with a traceback."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from textual.widgets import Markdown

import relaychat.core.trace as trace_module
from relaychat.connect import make_backends
from relaychat.core.profile import load_profile
from relaychat.ui.app import RelayChatApp
from relaychat.ui.chat_settings import ChatSettings
from tests.fakes.fault_server import Fault
from tests.reliability.conftest import SMALL_TEXT, Pair
from tests.ui.conftest import SIZE, ask, wait_turn_done, wait_until

LONG_REASONING = "Let me think about it step by step. " * 40 + "</think>"


class _DiskThatFills:
    """`os` for the trace writer, on a disk with `room` bytes left: writes past it fail with ENOSPC
    (a partial write first, as a real full disk does); everything else is the real `os`."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(fd, bytes(data[: self.room]))
        self.room -= written
        return written


def _app(pair: Pair) -> RelayChatApp:
    return RelayChatApp(ChatSettings(load_profile(pair.profile)), make_backends, autostart=False)


def _warnings(app: RelayChatApp, words: str) -> list[str]:
    return [n.message for n in app._notifications if words in n.message and n.severity == "warning"]


def _whole_lines(path: Path) -> list[dict[str, object]]:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.decode("utf-8").splitlines()]


async def test_a_disk_that_fills_mid_answer_keeps_the_answer_and_warns_once(
    pair: Pair, _isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair.large.plan(Fault(text=LONG_REASONING))
    monkeypatch.setattr(trace_module, "os", _DiskThatFills(room=4000))
    app = _app(pair)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: all(app.chat.healthy.get(r) for r in ("large", "small")))
        await ask(pilot, "2+2?")
        await wait_turn_done(pilot, app)
        turn = app.chat.session.turns[-1]
        assert turn.status == "done"  # the answer finished although its trace could not
        view = app.chat.transcript.turns[-1]
        assert view.query_one(Markdown).source.strip() == SMALL_TEXT  # nothing lost on screen
        assert "step by step" in view.reasoning_text
        warned = _warnings(app, "the trace stopped being saved")
        assert len(warned) == 1, warned
        assert turn.trace is not None and str(turn.trace) in warned[0]
        assert "the disk is full" in warned[0]
        saved = _whole_lines(turn.trace)  # the valid part: whole lines only, no torn last one
        assert saved and saved[0]["type"] == "run_started"
        assert saved[-1]["type"] not in ("finished", "failed")
        assert len(saved) < len(turn.events)

        monkeypatch.setattr(trace_module, "os", os)  # space is freed: the app simply goes on
        await ask(pilot, "and 3+3?")
        await wait_turn_done(pilot, app, turns=2)
        assert app.chat.session.turns[-1].status == "done"
        assert _whole_lines(app.chat.session.turns[-1].trace)[-1]["type"] == "finished"  # type: ignore[arg-type]
        assert len(_warnings(app, "the trace stopped being saved")) == 1


async def test_a_session_log_that_cannot_be_written_warns_once_and_the_chat_goes_on(
    pair: Pair, _isolated_home: Path
) -> None:
    app = _app(pair)
    async with app.run_test(size=SIZE) as pilot:
        session = app.chat.session
        session.log_path.mkdir(parents=True)  # session.jsonl cannot be opened for writing
        await wait_until(pilot, lambda: all(app.chat.healthy.get(r) for r in ("large", "small")))
        for number in (1, 2):
            await ask(pilot, f"question {number}")
            await wait_turn_done(pilot, app, turns=number)
            assert session.turns[-1].status == "done"
            assert app.chat.transcript.turns[-1].query_one(Markdown).source.strip() == SMALL_TEXT
        warned = _warnings(app, "the session log stopped being saved")
        assert len(warned) == 1 and str(session.log_path) in warned[0], warned
        assert _whole_lines(session.turns[-1].trace)[-1]["type"] == "finished"  # type: ignore[arg-type]
