"""Where a sentence ends in reasoning text, decided on a stream a few characters at a time.

Reasoning models write prose mixed with LaTeX, markdown and code. A sentence ends:
- at `.`, `!` or `?` (or an ellipsis) followed by white space, with any closing characters between
  them kept in the sentence: `."` `.)` `?"` `!'` `.**` and the curly quotes;
- at a blank line, and at the end of a heading line (`## Step 1`, a line in bold) or a list item;
- never inside an open math span (`$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]`, `\\begin..\\end`),
  inline code or a code fence: the first sentence end after the span closes counts, and a display
  whose formula ends with a period ends the sentence where it closes;
- never at a decimal point (`3.5`), a list marker (`2. `), a factorial (`5! = 120`), a title or an
  abbreviation that always precedes something (`Dr.`, `vs.`, `e.g.`, `i.e.`); other abbreviations
  and dotted initialisms (`U.S.`, `p.m.`, `No.`, `Fig.`, `etc.`) end a sentence only when the next
  word starts with a capital letter (`3 p.m. the train` goes on, `item No. 5` goes on); an ellipsis
  followed by a lower-case word does not end one either (`Wait... no`).

`SentenceRule` is a state machine: the text is fed as it streams, only the characters that can
matter are looked at (one regex search skips the rest), and it keeps a bounded window, so the cost
per token does not grow with the segment. It can be copied: a segment starts from the span state of
the whole text before it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

# Never end a sentence: they always precede a name, a number or an example.
ALWAYS_CONTINUE = frozenset(["e.g", "i.e", "vs", "cf", "dr", "mr", "mrs", "ms", "prof", "st", "viz", "resp"])
# End a sentence only before a capital letter ("etc. Then" ends, "etc. and" goes on).
ABBREVIATIONS = frozenset(
    ["etc", "approx", "eq", "eqs", "fig", "figs", "no", "nos", "al", "ca", "sec", "ch", "vol", "pp", "ref"]
)
CLOSERS = frozenset("\"'”’)]*_»")
_INTEREST = re.compile(r"[.!?\n$\\`]")
_IN_MATH = re.compile(r"[\n$\\]")
_IN_CODE = re.compile(r"[\n`]")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_INITIALISM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # "U.S", "p.m", "e.g" (the last period excluded)
_LIST_MARKER = re.compile(r"[ \t]*(?:\d{1,3}|[A-Za-z])")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]")
_HEADING = re.compile(r"[ \t]{0,3}#{1,6}[ \t]")
_KEEP = 96  # characters kept before the scan point: enough for every look-behind
_HEAD = 16  # characters of the current line's start kept for the line's kind

Pending = tuple[str, ...]


@dataclass
class _Span:
    math: str = ""  # "", "$", "$$", "\\(", "\\[", "env" (a LaTeX environment, `env` deep)
    env: int = 0
    code: int = 0  # backticks that opened inline code, or a fence's
    fence: bool = False


class SentenceRule:
    """Feed text with `feed`; it returns the end position of the first confirmed sentence end.

    Positions are absolute: characters fed since the rule was created (plus `offset`). After a
    sentence end is returned, feeding goes on from just after it (a caller may keep scanning).
    """

    def __init__(self, offset: int = 0) -> None:
        self._buf = ""  # window: look-behind, then the characters not yet decided
        self._start = offset  # absolute position of _buf[0]
        self._i = 0  # next character of _buf to look at
        self._span = _Span()
        self._line_start = offset  # absolute position of the current line's first character
        self._line_head = ""  # its first characters, once they left the window
        self._pending: Pending = ()

    def copy(self) -> SentenceRule:
        return copy.deepcopy(self)

    @property
    def in_span(self) -> bool:
        """Inside math, inline code or a code fence at the scan point."""
        s = self._span
        return bool(s.math or s.code)

    @property
    def position(self) -> int:
        """Absolute position of the scan point."""
        return self._start + self._i

    def pending(self) -> Pending:
        """What a sentence-end cut would keep beyond the text fed so far if the next characters confirm
        one: ("",) at "... is 4." (a space confirms it), ("\\n",) at "...\\n" (a second newline); ()."""
        return self._pending

    def feed(self, text: str) -> int | None:
        """Add `text`; the absolute end of the first sentence end now confirmed, else None."""
        self._buf += text
        end = self._scan()
        self._trim()
        return end

    def advance(self, text: str) -> None:
        """Add `text` and scan past every sentence end in it (to carry the span state along)."""
        self._buf += text
        while self._scan() is not None:
            pass
        self._trim()

    def rebase(self, end: int) -> None:
        """Renumber positions so that the text fed so far ends at `end`."""
        shift = end - (self._start + len(self._buf))
        self._start += shift
        self._line_start += shift

    def feed_all(self, text: str, final: bool = True) -> list[int]:
        """Every sentence end in `text` (offline: the end of `text` confirms a waiting end)."""
        ends: list[int] = []
        limit = self._start + len(self._buf) + len(text)
        self._buf += text
        while (end := self._scan()) is not None:
            ends.append(end)
        if final and not self.in_span:
            self._buf += "\n\n"
            while (end := self._scan()) is not None:
                if end - 1 <= limit and (min(end, limit) not in ends):
                    ends.append(min(end, limit))
        self._trim()
        return ends

    # --- the scanner -------------------------------------------------------------------------

    def _trim(self) -> None:
        cut = self._i - _KEEP
        if cut <= 0:
            return
        rel_line = self._line_start - self._start
        if 0 <= rel_line < cut and not self._line_head:
            self._line_head = self._buf[rel_line : rel_line + _HEAD]
        self._buf = self._buf[cut:]
        self._start += cut
        self._i -= cut

    def _head(self) -> str:
        """The current line's first characters."""
        rel = self._line_start - self._start
        return self._buf[rel : rel + _HEAD] if rel >= 0 else self._line_head

    def _line_so_far(self, j: int) -> str | None:
        """The current line up to _buf[j], when it is all in the window."""
        rel = self._line_start - self._start
        return self._buf[rel:j] if rel >= 0 else None

    def _new_line(self, j: int) -> None:
        self._line_start = self._start + j
        self._line_head = ""

    def _scan(self) -> int | None:
        """Scan from the scan point; stop at a sentence end (returned) or where more text is needed."""
        buf, n, span = self._buf, len(self._buf), self._span
        i = self._i
        self._pending = ()
        while True:
            pattern = _IN_CODE if span.code else _IN_MATH if span.math else _INTEREST
            m = pattern.search(buf, i)
            if m is None:
                self._i = n
                return None
            j = m.start()
            c = buf[j]
            if c == "\n":
                if span.math in ("$", "\\("):
                    span.math = ""  # inline math stays on its line: an unclosed "$5" is a dollar sign
                if not span.code and not span.math:
                    line_end = self._line_end(j)
                    if line_end is not None:
                        self._new_line(j + 1)
                        self._i = j + 1
                        return self._start + j + 1
                if j + 1 >= n:
                    self._i = j
                    if not span.code and not span.math:
                        self._pending = ("\n",)
                    return None
                self._new_line(j + 1)
                if buf[j + 1] == "\n":  # a blank line
                    if span.code and not span.fence:
                        span.code = 0
                    if not span.math and not span.code:
                        k = j + 2
                        self._new_line(k)
                        self._i = k
                        return self._start + k
                i = j + 1
                continue
            if c == "`":
                k = j
                while k < n and buf[k] == "`":
                    k += 1
                if k >= n:
                    self._i = j
                    return None
                run = k - j
                line = self._line_so_far(j)
                at_line_start = line is not None and not line.strip()
                if span.code:
                    fence_closes = span.fence and at_line_start and run >= span.code
                    if fence_closes or (not span.fence and run == span.code):
                        span.code, span.fence = 0, False
                elif run >= 3 and at_line_start:
                    span.code, span.fence = run, True
                else:
                    span.code, span.fence = run, False
                i = k
                continue
            if c == "\\":
                if j + 2 >= n:  # the command, and the character after a closing one
                    self._i = j
                    return None
                nxt = buf[j + 1]
                if nxt.isalpha():
                    k = j + 1
                    while k < n and buf[k].isalpha():
                        k += 1
                    name = buf[j + 1 : k]
                    if name == "begin" and span.math in ("", "env"):
                        span.math, span.env = "env", span.env + 1
                    elif name == "end" and span.math == "env":
                        close = buf.find("}", k)
                        if close < 0 or close + 1 >= n or k >= n:
                            self._i = j
                            return None
                        span.env -= 1
                        if span.env == 0:
                            span.math = ""
                            if self._closes_sentence(j, close + 1):
                                self._i = close + 1
                                return self._start + close + 1
                        k = close + 1
                    i = k
                    continue
                if nxt in "([" and not span.math:
                    span.math = "\\" + nxt
                elif (nxt == ")" and span.math == "\\(") or (nxt == "]" and span.math == "\\["):
                    span.math = ""
                    if nxt == "]" and self._closes_sentence(j, j + 2):
                        self._i = j + 2
                        return self._start + j + 2
                i = j + 2
                continue
            if c == "$":
                if j + 1 >= n or (buf[j + 1] == "$" and j + 2 >= n):
                    self._i = j
                    return None
                if buf[j + 1] == "$":
                    if span.math == "$$":
                        span.math = ""
                        if self._closes_sentence(j, j + 2):
                            self._i = j + 2
                            return self._start + j + 2
                    elif not span.math:
                        span.math = "$$"
                    elif span.math == "$":
                        span.math = ""  # "$x$$y$": an inline span closes, the next opens below
                        i = j + 1
                        continue
                    i = j + 2
                    continue
                if not span.math:
                    if not buf[j + 1].isspace():  # an opening $ is followed by its formula
                        span.math = "$"
                elif span.math == "$" and j > 0 and not buf[j - 1].isspace():
                    span.math = ""
                i = j + 1
                continue
            # ".", "!" or "?" outside math and code
            decided = self._punctuation(j)
            if decided is None:
                self._i = j
                return None
            end, resume = decided
            if end is not None:
                self._i = resume
                return self._start + end
            i = resume

    def _closes_sentence(self, j: int, end: int) -> bool:
        """A display closing at _buf[j:end] ends the sentence when the formula's last character is a
        sentence end ("x = 1. \\]") and the display ends its line."""
        buf = self._buf
        return buf[end] == "\n" and buf[max(0, j - _KEEP // 2) : j].rstrip()[-1:] in (".", "!", "?")

    def _punctuation(self, j: int) -> tuple[int | None, int] | None:
        """At `.!?` _buf[j]: (end or None, where to resume), or None when more text is needed."""
        buf, n = self._buf, len(self._buf)
        k = j
        while k < n and buf[k] in ".!?":
            k += 1
        dots = k - j
        while k < n and buf[k] in CLOSERS:
            k += 1
        if k >= n:
            self._pending = ("",) if self._could_end(j, dots) else ()
            return None
        if not buf[k].isspace():
            return (None, k)  # "3.5", "e.g.,", "x.y"
        c = buf[j]
        if c == "!" and dots == 1 and k == j + 1 and j > 0 and buf[j - 1].isdigit():
            return (None, k)  # a factorial: "5! = 120"
        if c == "." and dots == 1:
            line = self._line_so_far(j)
            if line is not None and _LIST_MARKER.fullmatch(line):
                return (None, k)  # "2. " opens a list item
            word = self._word_before(j)
            if word in ALWAYS_CONTINUE:
                return (None, k)
            if word in ABBREVIATIONS or (word and _INITIALISM.fullmatch(word)):
                return self._before_capital(k)
        elif c == "." and dots >= 2:
            return self._before_capital(k)
        return (k, k)

    def _before_capital(self, k: int) -> tuple[int | None, int] | None:
        """An abbreviation or ellipsis ending at k: a sentence end only before a capital letter (or a line
        break); None while the next word has not come."""
        buf, n = self._buf, len(self._buf)
        m = k
        while m < n and buf[m] in " \t":
            m += 1
        if m >= n:
            return None
        nxt = buf[m]
        if nxt == "\n" or nxt.isupper() or nxt in "#*$\\":
            return (k, k)
        return (None, m)

    def _word_before(self, j: int) -> str:
        word = _WORD_BEFORE.search(self._buf, max(0, j - 24), j)
        return word.group(1).lower().rstrip(".") if word else ""

    def _could_end(self, j: int, dots: int) -> bool:
        """Might punctuation at _buf[j] (text ends after it) end a sentence? For early starts only."""
        buf = self._buf
        if buf[j] == "!" and j > 0 and buf[j - 1].isdigit():
            return False
        if buf[j] == "." and dots == 1:
            line = self._line_so_far(j)
            if line is not None and _LIST_MARKER.fullmatch(line):
                return False
            word = self._word_before(j)
            if word in ALWAYS_CONTINUE or word in ABBREVIATIONS or _INITIALISM.fullmatch(word or "-"):
                return False
        return True

    def _line_end(self, j: int) -> int | None:
        """A newline at _buf[j] ends a heading line or a list item (not one that goes on after a colon)."""
        head = self._head()
        if not head:
            return None
        line = self._line_so_far(j)
        last = (line if line is not None else self._buf[max(0, j - 4) : j]).rstrip()
        if not last or last[-1] in ":,;":
            return None
        if last.rstrip("".join(CLOSERS))[-1:] in (".", "!", "?"):
            return None  # the line's last sentence has ended already
        if _HEADING.match(head):
            return j + 1
        if head.lstrip().startswith("**") and last.endswith("**"):
            return j + 1
        if _LIST_ITEM.match(head):
            return j + 1
        return None


def sentence_ends(text: str, final: bool = True) -> list[int]:
    """Every sentence end in a text; `final`: the text is finished, its end confirms a waiting one."""
    return SentenceRule().feed_all(text, final=final)


def sentence_end(text: str, start: int = 0, final: bool = False) -> int | None:
    """The first sentence end after `start`, the spans before `start` counted; by default as on a
    stream (an end at the very end of `text` is not confirmed yet)."""
    for end in sentence_ends(text, final=final):
        if end > start:
            return end
    return None


def sentence_end_suffixes(text: str) -> Pending:
    """What a sentence-end cut would keep beyond `text` if the next characters confirm one (see
    `SentenceRule.pending`)."""
    rule = SentenceRule()
    rule.advance(text)
    return rule.pending()
