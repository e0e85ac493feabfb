"""The Markdown parser of the answer pane: model output shown character for character.

An answer is untrusted model output. Rendered with the stock parser, HTML-like text
(`<response><name>Sarah</name>`) is taken for HTML and dropped, and Markdown escapes eat LaTeX's
backslashes (`\\[ x \\]` shows as `[ x ]`). Here HTML is off (tags are text) and every math span
(`$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]`) is kept verbatim as plain text: nothing inside it is read as
Markdown. The rest of the answer (emphasis, lists, code) still renders as Markdown.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline

# Display delimiters first; an inline `$` opens before a non-space and closes after one (so "$5 and
# $6" stays text), and a closing `$` followed by a digit is a dollar amount.
_MATH = re.compile(
    r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$(?=[^\s$])(?:[^$\\]|\\.)*?(?<=[^\s\\])\$(?!\d)",
    re.DOTALL,
)


def _verbatim_math(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] not in "$\\":
        return False
    match = _MATH.match(state.src, state.pos, state.posMax)
    if match is None:
        return False
    if not silent:
        token = state.push("text", "", 0)
        token.content = match.group()
    state.pos = match.end()
    return True


def answer_parser() -> MarkdownIt:
    """GFM-like Markdown without HTML, math spans kept as written."""
    parser = MarkdownIt("gfm-like", {"html": False})
    parser.inline.ruler.before("escape", "verbatim_math", _verbatim_math)
    return parser
