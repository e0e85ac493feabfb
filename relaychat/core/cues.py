"""Switch cues matched at word boundaries: one matcher for the runtime and for calibration.

The reference matched raw substrings, so `now` fired inside "know", `Any` inside "Anyway" and `Other`
inside "Otherwise". Here a cue matches only when the character before it is not part of a word and,
unless the cue itself ends in punctuation or a space, neither is the character after it. A cue with a
trailing space (`So `) means "the word So followed by white space"; the space is not part of the handoff.

Streaming needs to know when a match is *confirmed*: "Now" at the end of the text may still become
"Nowhere", so it waits for the next character. Offline (calibration) the end of a text is a boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

# Characters that continue a word: "Now's", "double-check", "x_1" are single words for matching.
WORD_CHARS = r"\w'’\-"
_WORD = re.compile(f"[{WORD_CHARS}]")
# A cue's word starts after a character that is not part of a word; an apostrophe there is an opening
# quote ('So, ...) unless a letter precedes it (a contraction such as "don't" stays one word).
_LEAD = r"(?<![\w\-])(?<![\w'’]['’])"


def is_word_char(char: str) -> bool:
    return bool(_WORD.fullmatch(char))


@dataclass(frozen=True)
class CueMatch:
    cue: str
    start: int
    end: int  # end of the cue's word or punctuation; a trailing-space cue's space is excluded


@dataclass(frozen=True)
class CueMatcher:
    """Finds cue occurrences in text, longest cue first at any position."""

    cues: tuple[str, ...]

    @classmethod
    def of(cls, cues: list[str] | tuple[str, ...]) -> CueMatcher:
        return cls(tuple(dict.fromkeys(c for c in cues if c.strip())))

    @cached_property
    def max_len(self) -> int:
        return max((len(c) for c in self.cues), default=0)

    def _pattern(self, final: bool) -> re.Pattern[str] | None:
        if not self.cues:
            return None
        # A following character must exist while streaming; at the end of a finished text, it need not.
        end = "" if not final else "|$"
        alternatives: list[str] = []
        for cue in sorted(self.cues, key=len, reverse=True):
            core = cue.rstrip()
            if core != cue:  # "So ": the word, then white space (not consumed)
                tail = rf"(?=\s{end})" if final else r"(?=\s)"
            elif is_word_char(core[-1]):
                tail = rf"(?=[^{WORD_CHARS}]{end})"
            else:
                tail = ""
            lead = _LEAD if is_word_char(core[0]) else ""
            alternatives.append(f"(?P<c{len(alternatives)}>{lead}{re.escape(core)}{tail})")
        return re.compile("|".join(alternatives))

    @cached_property
    def _streaming(self) -> re.Pattern[str] | None:
        return self._pattern(final=False)

    @cached_property
    def suffixes(self) -> frozenset[str]:
        """Every text a pending cue's cut may keep beyond the stream (see `pending`)."""
        return frozenset(suffix for _, suffix in self._pending)

    @cached_property
    def _pending(self) -> list[tuple[re.Pattern[str], str]]:
        """Per cue: the text its word leaves at the very end of a stream, and what the cut will keep next.

        "Now" and "So " are confirmed by any boundary after the word, and the cut keeps the word: "".
        "Now," is confirmed only by its comma, which the cut keeps too: ",".
        """
        waiting: dict[tuple[str, str], None] = {}
        for cue in self.cues:
            core = cue.rstrip()
            if core != cue or is_word_char(core[-1]):
                waiting[(core, "")] = None
            else:  # "Now,": the word, then punctuation the next token must bring
                word, suffix = split_cue(core)
                if word != core:
                    waiting[(word, suffix)] = None
        return [
            (
                re.compile((_LEAD if is_word_char(word[0]) else "") + re.escape(word) + "$"),
                suffix,
            )
            for word, suffix in waiting
        ]

    def pending(self, text: str, start: int = 0) -> tuple[tuple[str, str], ...]:
        """Cue words waiting at the end of `text` for the token that confirms them, each with what the
        cut would then keep beyond `text`.

        `(("So", ""),)` for "... So" (the next space confirms "So ": the cut keeps the text as it is),
        `(("Now", ""), ("Now", ","))` for "... Now" when both "Now" and "Now," are cues; empty when no
        cue waits at the end. The relay starts the receiving model early on these prompts.
        """
        window = max(start, len(text) - self.max_len - 1)
        found = {
            (m.group(), suffix): None
            for pattern, suffix in self._pending
            if (m := pattern.search(text, window))
        }
        return tuple(found)

    @cached_property
    def _final(self) -> re.Pattern[str] | None:
        return self._pattern(final=True)

    @cached_property
    def _by_group(self) -> dict[str, str]:
        ordered = sorted(self.cues, key=len, reverse=True)
        return {f"c{i}": cue for i, cue in enumerate(ordered)}

    def _match(self, m: re.Match[str]) -> CueMatch:
        group = m.lastgroup
        assert group is not None
        return CueMatch(self._by_group[group], m.start(), m.end())

    def first_confirmed(self, text: str, start: int = 0) -> CueMatch | None:
        """The first cue starting at or after `start` whose right boundary has been seen."""
        if self._streaming is None:
            return None
        m = self._streaming.search(text, start)
        return self._match(m) if m else None

    def find_all(self, text: str) -> list[CueMatch]:
        """Every occurrence in a finished text (end of text counts as a boundary)."""
        if self._final is None:
            return []
        return [self._match(m) for m in self._final.finditer(text)]


def split_cue(cue: str) -> tuple[str, str]:
    """A cue's word and the punctuation a cut keeps after it: "Now," -> ("Now", ","), "So " -> ("So", "")."""
    core = cue.rstrip()
    end = len(core)
    while end and not is_word_char(core[end - 1]):
        end -= 1
    return (core[:end], core[end:]) if end else (core, "")


# Characters that close a word in running text; a stop string for a word cue ends with one of them.
_RIGHT_BOUNDARIES = (" ", ",", ".", ":", ";", "!", "?", "\n", ")")
_LEFT_BOUNDARIES = (" ", "\n")


def server_stop_strings(cues: list[str] | tuple[str, ...]) -> list[str]:
    """Stop strings with the word boundaries written into them, for servers that stop on substrings.

    A plain `now` stop fires inside "know"; `" now,"`, `" now "`, `"\\nnow."`... only fire where the
    client-side matcher would confirm the cue too, so both paths cut the same segments. The client still
    runs its matcher and decides the cut; a server stop only saves streaming past the boundary.
    """
    stops: dict[str, None] = {}
    for cue in cues:
        core = cue.rstrip()
        if not core:
            continue
        lefts = _LEFT_BOUNDARIES if is_word_char(core[0]) else ("",)
        if core != cue:
            rights: tuple[str, ...] = (" ", "\n")
        elif is_word_char(core[-1]):
            rights = _RIGHT_BOUNDARIES
        else:
            rights = ("",)
        for left in lefts:
            for right in rights:
                stops[left + core + right] = None
    return list(stops)
