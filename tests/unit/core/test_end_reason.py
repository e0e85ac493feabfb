"""Why a segment ended: the client's cut, else how the server ended the stream."""

from __future__ import annotations

import pytest

from relaychat.backends.base import StreamEnd
from relaychat.core.cuts import Cut
from relaychat.core.end_reason import segment_end_reason, stopped_on_stop_string

EOS = StreamEnd(finish_reason="stop")
STOP = StreamEnd(finish_reason="stop", stop_reason=" So")
LENGTH = StreamEnd(finish_reason="length")
CLOSED = StreamEnd()


def test_a_cut_names_itself_whatever_the_server_said() -> None:
    for end in (EOS, STOP, LENGTH, CLOSED):
        reason = segment_end_reason(
            Cut(3, "cue", "So "), end, "reasoning", in_answer=False, reasoning_spent=True
        )
        assert reason == "cue"


def test_only_a_named_stop_string_is_a_stop() -> None:
    assert stopped_on_stop_string(STOP)
    assert not any(stopped_on_stop_string(e) for e in (EOS, LENGTH, CLOSED))


@pytest.mark.parametrize(
    ("end", "stage", "in_answer", "spent", "expected"),
    [
        (STOP, "reasoning", False, False, "server_stop"),  # a stop the client does not count: resume
        (STOP, "answer", False, False, "eos"),
        (EOS, "reasoning", False, False, "eos"),
        (CLOSED, "reasoning", False, False, "eos"),
        (LENGTH, "reasoning", False, False, "small_limit"),  # a turn's own cap
        (LENGTH, "reasoning", False, True, "reasoning_budget"),  # the generation's reasoning budget
        (LENGTH, "reasoning", True, True, "length"),  # a single stream already in its answer
        (LENGTH, "answer", False, True, "length"),
    ],
)
def test_stream_ends(end: StreamEnd, stage: str, in_answer: bool, spent: bool, expected: str) -> None:
    reason = segment_end_reason(None, end, stage, in_answer=in_answer, reasoning_spent=spent)  # type: ignore[arg-type]
    assert reason == expected
