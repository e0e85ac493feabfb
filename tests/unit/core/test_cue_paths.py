"""Server-side stop strings and client-side detection cut the same segments on the same streams."""

from __future__ import annotations

import pytest

from relaychat.backends.scripted import ScriptedBackend
from relaychat.core.controller import RelayController, RelayOptions
from relaychat.core.cues import CueMatcher, server_stop_strings
from relaychat.core.events import RelayEvent, RunFinished, SegmentEnded
from relaychat.core.profile import load_profile

QUESTION = [{"role": "user", "content": "Q?"}]

# Recorded-style large-model streams; each has one real cue after some false friends.
STREAMS = [
    "We know the sum of the parts here. So the total is even.",
    "Anyway, the parts add to ten in all cases. Now, the total is even.",
    "Otherwise the count is off by one each time. Thus we get two.",
    "The answer is 3.5 when we add the halves up. Therefore, it is 3.5.",
    "Nowhere does the count go wrong in this sum. Now we check it.",
    "Let us add all of the numbers one by one. Similarly, the rest.",
]


async def relay(stream: str, path: str) -> list[RelayEvent]:
    profile = load_profile("qwen3-1.7b-32b").model_copy(
        update={"max_tokens": 200, "answer_reserve": 20, "shared_tokenizer": False}
    )
    large = ScriptedBackend("http://large", max_stops=None if path == "server" else 4)
    small = ScriptedBackend("http://small")
    large.add(stream, "\n</think>")
    small.add(" the end is near. Ok", "Done.")
    controller = RelayController(
        profile, {"large": large, "small": small}, RelayOptions(cue_detection="auto")
    )
    events = [e async for e in controller.run(QUESTION)]
    assert isinstance(events[-1], RunFinished)
    assert events[-1].summary.cue_detection == path
    sent_stops = [bool(r.stop) for r in large.requests]
    assert all(sent_stops) if path == "server" else not any(sent_stops)
    # Server path: the server's own stop fired on the cue's token; client path: no stops were sent.
    assert bool(large.stops_fired) is (path == "server")
    return events


def segments(events: list[RelayEvent]) -> list[tuple[str, str, int]]:
    return [(e.model, e.reason, e.tokens) for e in events if isinstance(e, SegmentEnded)]


@pytest.mark.parametrize("stream", STREAMS)
async def test_client_and_server_paths_cut_the_same_segments(stream: str) -> None:
    client = await relay(stream, "client")
    server = await relay(stream, "server")
    assert segments(client) == segments(server)
    summary_c, summary_s = client[-1].summary, server[-1].summary  # type: ignore[union-attr]
    assert (summary_c.reasoning, summary_c.answer) == (summary_s.reasoning, summary_s.answer)
    assert summary_c.cue_hits == summary_s.cue_hits and summary_c.cue_hits  # a cue fired, the same one


def test_every_stop_string_is_a_confirmed_cue_for_the_matcher() -> None:
    cues = load_profile("qwen3-1.7b-32b").cues
    matcher = CueMatcher.of(cues)
    for stop in server_stop_strings(cues):
        found = matcher.first_confirmed("x" + stop)
        assert found is not None, f"stop {stop!r} would fire where the matcher sees no cue"


def test_stop_strings_never_fire_inside_words() -> None:
    stops = server_stop_strings(["now", "Any", "Other", "So "])
    for text in ["We know it.", "Anyway, fine.", "Otherwise, no.", "Sonic, so"]:
        assert not any(stop in text for stop in stops), text


def test_stop_list_size_for_the_paper_cues() -> None:
    assert len(server_stop_strings(load_profile("qwen3-1.7b-32b").cues)) == 250
