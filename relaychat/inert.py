"""Model output and server replies are data: show their control characters, never send them.

A model (or a hostile server) that writes `\\x1b[2J` or `\\x1b]0;title\\x07` must not clear the user's
screen or retitle the window. Every front end passes untrusted text through `inert()` before it reaches
a terminal: each C0 control (except newline and tab) becomes its Unicode control picture (ESC -> ␛,
BEL -> ␇, CR -> ␍), DEL becomes ␡, and C1 controls (0x80-0x9f, e.g. the one-byte CSI 0x9b) become �.
One character in, one character out, so offsets into the text (cue marks) stay valid.
"""

from __future__ import annotations

_KEEP = {"\n", "\t"}
_TABLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if chr(c) not in _KEEP}
_TABLE[0x7F] = "\u2421"
_TABLE.update({c: "\ufffd" for c in range(0x80, 0xA0)})


def inert(text: str) -> str:
    """`text` with every terminal control character replaced by a visible, harmless symbol."""
    return text.translate(_TABLE)


def has_controls(text: str) -> bool:
    return any(ord(c) in _TABLE for c in text)
