"""Whether a streamed Markdown widget already shows what rendering its whole source would.

Textual's `Markdown.append` re-parses from the start of the last top-level block at every fragment,
so a streamed answer normally ends with the blocks a full render makes. Rendering the whole answer
again when its stream closes cost 60-110 ms in one frame at 1,000 tok/s (docs/evaluation.md, issue 16):
parsing it again is cheap (the widgets are not), so the full render now runs only when the blocks
differ, or when the answer defines link references (they apply document-wide, so a block parsed
before its definition arrived may be stale).
"""

from __future__ import annotations

import re

from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownBlock

from relaychat.ui.answer_markdown import answer_parser

_LINK_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:", re.MULTILINE)


def top_level_blocks(source: str) -> list[tuple[str, tuple[int, int]]]:
    """(type, line range) of each top-level block, parsed as the answer pane's parser does."""
    return [
        (token.type, (token.map[0], token.map[1]))
        for token in answer_parser().parse(source)
        if token.level == 0 and token.nesting >= 0 and token.map is not None
    ]


def shown_blocks(widget: Markdown) -> list[tuple[str, tuple[int, int]]]:
    return [(str(b.name), b.source_range) for b in widget.children if isinstance(b, MarkdownBlock)]


def needs_full_render(widget: Markdown, source: str) -> bool:
    """True unless the widget holds exactly `source` as the blocks a full render of it would make."""
    if widget.source != source or _LINK_REFERENCE.search(source):
        return True
    return shown_blocks(widget) != top_level_blocks(source)
