"""Post-cue segments: from the token after a cue to the end of its sentence (docs/how-it-works.md).

Cue occurrences come from the runtime's `CueMatcher` and sentence ends from the runtime's
`sentence_end`, so calibration measures exactly the stretches the relay would hand to the small model.
Each cue is matched on its own (as if it were the only cue), so "Thus" also counts where "Thus,"
is written: that is where the relay would switch if only "Thus" were selected.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from relaychat.core.cues import CueMatcher
from relaychat.core.sentences import sentence_ends


@dataclass(frozen=True)
class PostCueSegment:
    cue: str
    cue_start: int
    start: int  # first character after the cue (its trailing space, if any, belongs to the segment)
    end: int  # just after the sentence end, or the end of the text
    first_token: int  # token indices [first_token, last_token) of the segment
    last_token: int

    @property
    def token_count(self) -> int:
        return self.last_token - self.first_token


@lru_cache(maxsize=512)
def _matcher(cue: str) -> CueMatcher:
    return CueMatcher.of([cue])


def segment_tokens(starts: list[int], start: int, end: int) -> tuple[int, int]:
    """Token indices whose first character lies in [start, end); `starts` is ascending.

    The token that carries the cue's last character is excluded even when it runs past the cue
    ("Thus" + "," as one token for the cue "Thus"): the small model never predicts it.
    """
    return bisect.bisect_left(starts, start), bisect.bisect_left(starts, end)


def post_cue_segments(text: str, starts: list[int], cues: Iterable[str]) -> list[PostCueSegment]:
    """Every occurrence of every cue in `text` with its post-cue token range (empty ranges dropped)."""
    segments: list[PostCueSegment] = []
    ends = sentence_ends(text)
    for cue in cues:
        for match in _matcher(cue).find_all(text):
            after = bisect.bisect_right(ends, match.end)
            end = ends[after] if after < len(ends) else len(text)
            first, last = segment_tokens(starts, match.end, end)
            if last > first:
                segments.append(PostCueSegment(cue, match.start, match.end, end, first, last))
    return segments
