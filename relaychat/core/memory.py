"""What the relay learns about its models and servers, kept across generations by whoever owns it.

Two small caches make early starts cheaper from one generation to the next:
- `CueHabits`: how each model ends each cue word ("Now" was followed by "," five times, by nothing
  once). With no habit yet, both possible cuts are started early; once one ending is more frequent,
  only that one is, because two early requests double the receiving server's prefill.
- `SuffixTokens`: the token ids of the few short texts a pending cut may keep ("," of "Now,", a second
  newline), asked of each server once.

Neither is module state: a `WarmupMemory` lives as long as its owner. A `RelayController` makes its own
unless given one; front ends that make one controller per question (the chat screen, bench, eval)
keep one memory for as long as they talk to the same servers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from relaychat.backends.base import Backend
from relaychat.core.cues import split_cue

Pending = tuple[tuple[str, str], ...]  # (cue word or "", what the cut would keep past the shown text)


class CueHabits:
    """Per model and cue word, how often each ending followed it."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], Counter[str]] = {}

    def learn(self, model: str, cue: str) -> None:
        """`model` wrote `cue` and the relay cut there ("Now," counts "," for the word "now")."""
        word, suffix = split_cue(cue)
        self._counts.setdefault((model, word.lower()), Counter())[suffix] += 1

    def likely(self, model: str, pending: Pending) -> list[str]:
        """Which of the pending cuts' suffixes to start early, most likely first.

        "... Now" may become a cut after "Now" or after "Now,": both go out until the model has written
        one of them more often than the other, then only that one.
        """
        suffixes = list(dict.fromkeys(suffix for _, suffix in pending))
        words = {word for word, _ in pending}
        if len(suffixes) < 2 or len(words) != 1:
            return suffixes
        counts = self._counts.get((model, words.pop().lower()), Counter())
        ranked = sorted(suffixes, key=lambda s: counts[s], reverse=True)
        return ranked[:1] if counts[ranked[0]] > counts[ranked[1]] else suffixes


class SuffixTokens:
    """Token ids of short texts per server (URL and model name), each text asked of a server once."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str, str], list[int]] = {}

    async def single_tokens(self, backend: Backend, model: str, texts: set[str]) -> dict[str, list[int]]:
        """The texts that are one token on this server, with their id.

        A text the tokenizer splits could never be one streamed token, so no early start waits for it.
        """
        wanted = sorted(texts - {""})
        missing = [t for t in wanted if (backend.url, model, t) not in self._ids]
        found = await asyncio.gather(*(backend.tokenize(t, add_special_tokens=False) for t in missing))
        for text, ids in zip(missing, found, strict=True):
            self._ids[(backend.url, model, text)] = ids
        return {t: ids for t in wanted if len(ids := self._ids[(backend.url, model, t)]) == 1}


@dataclass
class WarmupMemory:
    """Everything the warm-up policies learn that outlives one generation."""

    habits: CueHabits = field(default_factory=CueHabits)
    suffixes: SuffixTokens = field(default_factory=SuffixTokens)
