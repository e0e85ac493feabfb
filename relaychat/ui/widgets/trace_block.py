"""A stretch of reasoning text, coloured by the model that wrote it: the transcript's building block.

The reasoning of a turn is split into blocks of bounded size (cut at line breaks), so a token only
re-renders the last block, never the whole trace. Sealed blocks are merged pairwise (up to a size cap),
so a long trace is a handful of widgets and the layout pass per frame stays cheap: this is what keeps
a 32k-token trace smooth.
"""

from __future__ import annotations

from textual.content import Content, Span
from textual.widgets import Static

from relaychat.ui.styled_text import StyledText

ROLE_STYLE = {"large": "$relay-large", "small": "$relay-small", None: "$relay-muted italic"}


def styled_content(styled: StyledText) -> Content:
    spans: list[Span] = []
    position = 0
    for run in styled.runs:
        text = run.text
        style = ROLE_STYLE[run.role] + (" bold underline" if run.cue else "")
        spans.append(Span(position, position + len(text), style))
        position += len(text)
    return Content(styled.text, spans)


class TraceBlock(Static):
    DEFAULT_CLASSES = "trace-block"

    def __init__(self, start: int, lead: str = "") -> None:
        super().__init__("")
        self.styled = StyledText(start)
        self.lead = lead  # the separator before this block (a line break, shown as the block edge)
        self.level = 0  # how many merges built it: sealed blocks merge pairwise, like a binary counter

    def redraw(self) -> None:
        self.update(styled_content(self.styled))

    def absorb(self, later: TraceBlock) -> None:
        """Take over the text of the block after this one (which the caller removes)."""
        self.styled.extend(later.styled, later.lead)
        self.level += 1
