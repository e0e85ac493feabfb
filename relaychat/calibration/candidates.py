"""The 91-candidate cue pool of the RelayGen paper, in its listed order (docs/how-it-works.md)."""

from __future__ import annotations

BASE_WORDS = (
    "Therefore", "Thus", "So", "Similarly", "Also", "Alternatively", "Wait", "Hmm", "But", "However",
    "Hence", "Another", "Oh", "Maybe", "Other", "Again", "Now", "Ah", "Any", "Specifically",
)  # fmt: skip
EXTRA = (
    "check", "double-check", "verify", "then", "then,", "Then", "Then,", "next", "next,", "Next", "Next,",
)  # fmt: skip


def _variants(word: str) -> list[str]:
    """Capitalised and lower-case, each bare and with a trailing comma; `So`/`so` bare means "So "."""
    out: list[str] = []
    for form in (word, word.lower()):
        bare = f"{form} " if word == "So" else form
        out += [bare, f"{form},"]
    return out


CANDIDATE_POOL: tuple[str, ...] = tuple(cue for word in BASE_WORDS for cue in _variants(word)) + EXTRA
assert len(CANDIDATE_POOL) == 91 and len(set(CANDIDATE_POOL)) == 91
