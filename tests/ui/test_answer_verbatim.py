"""The answer pane shows what the model wrote, character for character: HTML-like tags and LaTeX math
stay visible text (the Markdown renderer must neither take them for HTML nor eat their backslashes).

Update the snapshot after an intended visual change:
.venv/bin/pytest tests/ui/test_answer_verbatim.py --snapshot-update
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownBlock

from relaychat.backends.base import Backend
from relaychat.backends.scripted import Reply, words
from relaychat.core.events import Role
from relaychat.core.profile import PairProfile
from relaychat.ui.answer_markdown import answer_parser
from relaychat.ui.screens.replay import bundled_trace
from relaychat.ui.widgets.prompt import PromptArea
from tests.ui.conftest import SIZE, Scripted, ask, make_app, wait_turn_done

ANSWER = (
    "<response><name>Sarah</name><age>7</age></response>\n\n"
    "The answer is $\\boxed{4}$, since $a_1 * b_2 = 4$.\n\n"
    "\\[ x_{1} = \\frac{1}{2}, \\quad y = \\{1, 2\\} \\]\n\n"
    "We also have \\(x^2 = 4\\) and $$\\sum_{i=1}^{3} i = 6$$ here, and **bold** still renders.\n\n"
    "A dollar amount: it costs $5 and $6 in all."
)
SHOWN = [
    "<response><name>Sarah</name><age>7</age></response>",
    "The answer is $\\boxed{4}$, since $a_1 * b_2 = 4$.",
    "\\[ x_{1} = \\frac{1}{2}, \\quad y = \\{1, 2\\} \\]",
    "We also have \\(x^2 = 4\\) and $$\\sum_{i=1}^{3} i = 6$$ here, and bold still renders.",
    "A dollar amount: it costs $5 and $6 in all.",
]


class AnswerScripted(Scripted):
    """The usual relay script, with `ANSWER` streamed three characters at a time as the answer."""

    def __call__(self, profile: PairProfile) -> Mapping[Role, Backend]:
        made = super().__call__(profile)
        made["small"].replies[-1] = Reply([ANSWER[i : i + 3] for i in range(0, len(ANSWER), 3)], margin=0.9)
        return made


async def _answered(pilot: Pilot[None]) -> None:
    await pilot.pause()
    pilot.app.query_one(PromptArea).cursor_blink = False
    await ask(pilot, "Who is it, and what is 2 + 2?")
    await wait_turn_done(pilot, pilot.app)  # type: ignore[arg-type]
    await pilot.pause(0.2)


async def test_the_answer_shows_tags_and_math_as_written() -> None:
    app = make_app(AnswerScripted())
    async with app.run_test(size=SIZE) as pilot:
        await _answered(pilot)
        answer = app.query(Markdown).last()
        shown = [str(block.render()) for block in answer.query(MarkdownBlock) if not block.children]
        assert shown == SHOWN
        bold = [span for block in answer.query(MarkdownBlock) for span in block._content.spans]  # type: ignore[attr-defined]
        assert bold, "Markdown outside math still renders"


def test_the_parser_keeps_math_and_tags_as_text() -> None:
    tokens = answer_parser().parseInline("a <b>x</b> \\[ \\_ \\] $\\{y\\}$ \\*z\\*")[0].children or []
    assert "".join(t.content for t in tokens) == "a <b>x</b> \\[ \\_ \\] $\\{y\\}$ *z*"


def _trace_with_answer(path: Path) -> Path:
    """The bundled demo trace (fixed times: a stable screen) with `ANSWER` as its answer."""
    lines, answered = [], False
    for line in bundled_trace().read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["type"] == "token" and event["stage"] == "answer":
            if answered:
                continue
            answered = True
            event.update(text=ANSWER, token_ids=[], margins=[])
        elif event["type"] == "finished":
            event["summary"]["answer"] = ANSWER
        lines.append(json.dumps(event))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_answer_snapshot(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(Scripted())
    trace = _trace_with_answer(tmp_path / "trace.jsonl")

    async def replay_it(pilot: Pilot[None]) -> None:
        await pilot.pause()
        app.query_one(PromptArea).cursor_blink = False
        app.chat.replay(trace, math.inf)
        await wait_turn_done(pilot, app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=replay_it)


class SmallWindow(Scripted):
    """The relay script on servers whose context window the answer fills."""

    def __call__(self, profile: PairProfile) -> Mapping[Role, Backend]:
        made = super().__call__(profile)
        # The small model's answer fills its window; the large model's window leaves the same room beyond
        # its worked examples (its system text), whatever they weigh.
        made["small"].max_model_len = 220
        made["large"].max_model_len = 124 + len(words(profile.large.prompt.system or ""))
        made["small"].replies[-1] = Reply(["We keep counting"] + [" and counting"] * 200)
        return made


async def test_an_answer_that_fills_the_window_says_context_limit() -> None:
    app = make_app(SmallWindow())
    async with app.run_test(size=SIZE) as pilot:
        await _answered(pilot)
        result = str(app.query("#result").last().render())
        assert "stopped at the context window (context_limit)" in result, result
        assert app.chat.session.turns[-1].status == "done"
