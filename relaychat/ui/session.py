"""One chat session on disk: `sessions/<stamp>-<id>/session.jsonl` plus one trace per generation.

Lines are written the moment something happens (the question when it is sent, every event via
`core.trace.recorded` into the turn's trace, the answer or the cancellation when the turn ends), so
quitting or crashing loses nothing that was on screen. A disk that fills (or goes read-only) on the
way never stops the chat: the file keeps its whole lines up to there, and `warn` says so once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from relaychat.core.events import RelayEvent, RunFailed, RunFinished
from relaychat.core.prompt import Message
from relaychat.core.trace import recorded
from relaychat.paths import data_dir
from relaychat.storage import describe

TurnStatus = Literal["running", "done", "cancelled", "failed"]


@dataclass
class Turn:
    """One question and what the relay did with it (live or replayed)."""

    question: str
    source: Literal["live", "replay"] = "live"
    events: list[RelayEvent] = field(default_factory=list)
    status: TurnStatus = "running"
    trace: Path | None = None

    @property
    def answer(self) -> str | None:
        final = self.events[-1] if self.events else None
        if isinstance(final, (RunFinished, RunFailed)):
            return final.summary.answer
        return None


def sessions_dir() -> Path:
    return data_dir() / "sessions"


class Session:
    def __init__(self, folder: Path | None = None, warn: Callable[[str], None] | None = None) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.folder = folder or sessions_dir() / f"{stamp}-{uuid.uuid4().hex[:6]}"
        self.turns: list[Turn] = []
        self.context_start = 0  # index of the first turn of the current conversation (Ctrl+N moves it)
        self.warn = warn  # how the front end tells the user that something stopped being saved
        self.log_error: OSError | None = None  # the session log stopped being written (said once)

    def _warn(self, message: str) -> None:
        if self.warn is not None:
            self.warn(message)

    @property
    def log_path(self) -> Path:
        return self.folder / "session.jsonl"

    def _write(self, record: dict[str, Any]) -> None:
        """Append one whole line; on a write error the log stops there (cut back to its last whole
        line) and the user is warned once, while the chat goes on."""
        if self.log_error is not None:
            return
        record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **record}
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as handle:
                good = handle.tell()
                try:
                    handle.write(data)
                    handle.flush()
                except OSError:
                    handle.truncate(good)  # needs no free space
                    raise
        except OSError as exc:
            self.log_error = exc
            self._warn(
                f"the session log stopped being saved ({describe(exc)}): {self.log_path} holds the "
                "session up to there, each line whole; the chat goes on"
            )

    def conversation(self, question: str) -> list[Message]:
        """Earlier finished live turns (answers only) plus the new question."""
        messages: list[Message] = []
        for turn in self.turns[self.context_start :]:
            if turn.source == "live" and turn.status == "done" and turn.answer is not None:
                messages += [
                    {"role": "user", "content": turn.question},
                    {"role": "assistant", "content": turn.answer},
                ]
        return [*messages, {"role": "user", "content": question}]

    def new_conversation(self) -> None:
        """Later questions go without the earlier turns (the transcript and the log keep them)."""
        self.context_start = len(self.turns)
        self._write({"type": "new_conversation"})

    def start_turn(
        self, question: str, source: Literal["live", "replay"] = "live", trace: Path | None = None
    ) -> Turn:
        turn = Turn(question=question, source=source, trace=trace)
        self.turns.append(turn)
        self._write(
            {
                "type": "user" if source == "live" else "replay",
                "content": question,
                **({"trace": str(trace)} if trace else {}),
            }
        )
        return turn

    async def record(
        self, turn: Turn, events: AsyncGenerator[RelayEvent, None]
    ) -> AsyncGenerator[RelayEvent, None]:
        """Pass a live turn's events through, saving its trace in the session folder as they come.

        Closing this (Esc) closes `events` right away, so the controller hangs up on the server.
        """

        def trace_stopped(path: Path, error: OSError, saved: int) -> None:
            self._warn(
                f"the trace stopped being saved after {saved} events ({describe(error)}): {path} holds "
                "this turn up to there, each line whole; the answer goes on"
            )

        try:
            async with aclosing(recorded(events, folder=self.folder, on_write_error=trace_stopped)) as stream:
                async for event, path in stream:
                    turn.trace = path
                    turn.events.append(event)
                    yield event
        finally:
            await events.aclose()

    def end_turn(self, turn: Turn, status: TurnStatus, error: str | None = None) -> None:
        turn.status = status
        record: dict[str, Any] = {"type": "assistant" if status == "done" else status}
        if turn.answer is not None:
            record["content"] = turn.answer
        if turn.trace is not None:
            record["trace"] = str(turn.trace)
        if error:
            record["error"] = error
        self._write(record)
