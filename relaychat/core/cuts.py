"""Where one segment must end, decided token by token on the stream (docs/how-it-works.md, "The relay").

The scanner sees every token one model streams in one segment and records the first cut: an end
text (the model's end of turn), the reasoning-end marker, the reasoning budget in single-model mode,
a cue at a word boundary (large model) or a sentence end (small model). A cut always falls on a whole
token: the last kept token is `cut.index`; tokens after it (the look-ahead that confirmed a boundary)
are dropped by the caller. It also says when a cut is *pending*: the text ends where one more
character will confirm a cue or a sentence end, which is when the relay warms the next model.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Literal

from relaychat.backends.base import Token
from relaychat.core.cues import CueMatcher
from relaychat.core.events import SegmentEndReason, Stage
from relaychat.core.sentences import SentenceRule

Detect = Literal["cue", "sentence", "none"]


@dataclass
class Cut:
    index: int  # last kept token
    reason: SegmentEndReason
    cue: str | None = None
    cue_offset: int | None = None  # character offset of the cue in the whole reasoning text


@dataclass
class CutScanner:
    context: str  # the shared text just before this segment (for look-behind at word boundaries)
    detect: Detect
    stage: Stage
    matcher: CueMatcher
    marker: str
    end_texts: list[str] = field(default_factory=list)
    min_tokens: int = 0
    answer_in_stream: bool = False  # single-model mode: the marker starts the answer in this same stream
    budget_left: int | None = None  # single-model mode: reasoning tokens left before the budget cut
    text_offset: int = 0  # length of the reasoning text before `context` ends, minus len(context)
    # The sentence rule's state at the end of `context` (math and code spans opened earlier in the
    # text); None: a fresh rule that has seen only `context`.
    sentences: SentenceRule | None = None

    tokens: list[Token] = field(default_factory=list, init=False)
    cut: Cut | None = field(default=None, init=False)
    answer_from: int | None = field(default=None, init=False)  # first answer token (answer_in_stream)

    def __post_init__(self) -> None:
        self.base = len(self.context)
        self._parts: list[str] = [self.context]
        self._joined = ""  # the text of _parts[: self._joined_parts], joined once
        self._joined_parts = 0
        self._length = self.base
        self._ends: list[int] = []
        self._scan = self._ignore_before = self.base
        self._longest_end = max(map(len, self.end_texts), default=0)
        needles = sorted(self.end_texts, key=len, reverse=True)
        self._end_re = re.compile("|".join(map(re.escape, needles))) if needles else None
        # Every search looks at a bounded window: the last `_keep` characters and the new token.
        self._keep = max(self._longest_end, len(self.marker), self.matcher.max_len) + 8
        self._win = self.context[-self._keep :]
        self._win_start = self.base - len(self._win)
        if self.detect == "sentence":
            if self.sentences is None:
                self.sentences = SentenceRule(offset=0)
                self.sentences.advance(self.context)
            else:
                self.sentences = self.sentences.copy()
            self.sentences.rebase(self.base)

    @property
    def text(self) -> str:
        """The context and every streamed token's text (joined on demand)."""
        parts = self._parts
        if self._joined_parts < len(parts):
            self._joined += "".join(parts[self._joined_parts :])
            self._joined_parts = len(parts)
        return self._joined

    def add(self, token: Token) -> None:
        self.add_chunk([token])

    def add_chunk(self, tokens: list[Token]) -> None:
        """A streamed chunk's tokens. Each is searched as if it came alone (the first cut wins, found
        on the text up to its token); once a cut is found the rest is appended in one piece."""
        self.tokens.extend(tokens)
        if self.cut is not None:
            self._append(tokens)
            return
        ends, first, parts = self._ends, len(self.tokens) - len(tokens), self._parts
        for offset, token in enumerate(tokens):
            before = self._length
            piece = token.text
            parts.append(piece)
            self._length += len(piece)
            ends.append(self._length)
            win = self._win
            if len(win) > self._keep:
                win = win[-self._keep :]
            self._win = win + piece
            self._win_start = before - len(win)
            self.cut = self._find(before, first + offset, piece)
            if self.cut is not None:
                self._append(tokens[offset + 1 :])
                return

    def _append(self, tokens: list[Token]) -> None:
        """Text past the cut (the look-ahead): kept for `text_of`, never searched."""
        ends = self._ends
        for token in tokens:
            self._length += len(token.text)
            ends.append(self._length)
            self._parts.append(token.text)

    def _find(self, before: int, i: int, piece: str) -> Cut | None:
        win, w0, base = self._win, self._win_start, self.base
        if self._end_re is not None:
            # One alternation finds the leftmost of all end texts, as a `find` per end text would.
            done = self._end_re.search(win, max(base, before - self._longest_end + 1) - w0)
            if done is not None:  # keep whole tokens that end before the end text
                return Cut(bisect.bisect_left(self._ends, w0 + done.start() + 1) - 1, "eos")
        if self.stage == "reasoning" and self.answer_from is None:
            if win.find(self.marker, max(base, before - len(self.marker) + 1) - w0) >= 0:
                if self.answer_in_stream:
                    self.answer_from = i + 1
                    return None
                return Cut(i, "reasoning_end")
            if self.budget_left is not None and i + 1 >= self.budget_left:
                return Cut(i, "reasoning_budget")
        if self.detect == "cue":
            start = max(self._scan, self._ignore_before)
            self._scan = max(base, self._length - self.matcher.max_len - 1)
            while (m := self.matcher.first_confirmed(win, start - w0)) is not None:
                j = bisect.bisect_right(self._ends, w0 + m.end - 1)
                if j + 1 >= self.min_tokens:
                    return Cut(j, "cue", m.cue, self.text_offset + w0 + m.start)
                self._ignore_before = start = w0 + m.end  # inside min_tokens: not a switch
        elif self.detect == "sentence":
            assert self.sentences is not None
            position = self.sentences.feed(piece)
            while position is not None and position <= base:
                position = self.sentences.feed("")  # an end the text before this segment left waiting
            if position is not None:
                return Cut(bisect.bisect_right(self._ends, position - 1), "sentence_end")
        return None

    def pending(self, emitted: int) -> tuple[tuple[str, str], ...]:
        """Where the next token may confirm a cut ("... So", "... is 4."), per possibility: the waiting
        cue word ("" for a sentence end) and what the cut would keep beyond the shown text ("" for the
        text as it is, "," for "Now,"...); () when no cut is pending."""
        if emitted == 0 or self.cut is not None or emitted != len(self.tokens):
            return ()
        if self.detect == "cue":
            if emitted < self.min_tokens:
                return ()
            return self.matcher.pending(self._win, max(0, self.base - self._win_start))
        if self.detect == "sentence":
            assert self.sentences is not None
            return tuple(("", suffix) for suffix in self.sentences.pending())
        return ()

    def text_of(self, start: int, stop: int) -> str:
        """The text of tokens[start:stop] (a token's text is exact)."""
        if stop <= start:
            return ""
        return "".join([t.text for t in self.tokens[start:stop]])
