"""The consoles the commands print through.

Messages on stderr (errors, warnings, progress notes, setup lines) are never hard-wrapped: rich wraps at
the terminal's width, or at 80 columns off a terminal, so a message would break wherever a path's length
put the break. One message is one line; a terminal wraps it for the eye, and a log, a pipe or a test
reads it whole.
"""

from __future__ import annotations

from rich.console import Console


def message_console() -> Console:
    """stderr, one line per message at any width, no automatic highlighting of numbers and paths."""
    return Console(stderr=True, highlight=False, soft_wrap=True)
