"""A streamed answer ends with the widgets a full render makes, so `close_stream` may skip the render;
when they differ (or link references are defined), it renders the whole answer."""

from __future__ import annotations

import random

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Markdown
from textual.widgets._markdown import MarkdownBlock

from relaychat.ui.widgets.markdown_check import needs_full_render, shown_blocks, top_level_blocks

ANSWERS = [
    "The answer is **5**.",
    "First we add.\n\nThen we check:\n\n- 2 + 3 = 5\n- 5 - 3 = 2\n\nSo the answer is $5$.",
    "Steps\n=====\n\n1. add\n2. check\n   more of step two\n\n```python\nprint(2 + 3)\n```\n\n"
    "> quoted\n> twice",
    "| a | b |\n|---|---|\n| 1 | 2 |\n\nText after the table, then a rule\n\n---\n\n## Done",
    "A paragraph that is long enough to be split in many places " * 8 + "\n\n    indented code\n\nend",
]


class _Doc(App[None]):
    def compose(self) -> ComposeResult:
        yield Markdown(id="streamed")
        yield Markdown(id="whole")


def _tree(widget: Markdown) -> list[tuple[str, int, str]]:
    """Every block, nested ones too: its kind, depth and text (the top-level blocks' lines are checked
    apart: Textual does not shift a nested block's line range when it streams)."""
    return [(str(b.name), len(b.ancestors), b._content.plain) for b in widget.query(MarkdownBlock)]


async def _stream(widget: Markdown, source: str, rng: random.Random) -> None:
    stream = Markdown.get_stream(widget)
    at = 0
    while at < len(source):
        step = rng.randint(1, 12)
        await stream.write(source[at : at + step])
        at += step
    await stream.stop()


@pytest.mark.parametrize("source", ANSWERS)
async def test_a_streamed_answer_ends_as_the_full_render(source: str) -> None:
    app = _Doc()
    async with app.run_test() as pilot:
        streamed, whole = app.query_one("#streamed", Markdown), app.query_one("#whole", Markdown)
        for seed in range(3):
            await streamed.update("")
            await _stream(streamed, source, random.Random(seed))
            await whole.update(source)
            await pilot.pause()
            assert shown_blocks(streamed) == top_level_blocks(source) == shown_blocks(whole)
            assert _tree(streamed) == _tree(whole)
            assert not needs_full_render(streamed, source)


async def test_a_different_widget_or_a_link_reference_needs_the_full_render() -> None:
    app = _Doc()
    async with app.run_test():
        streamed = app.query_one("#streamed", Markdown)
        await _stream(streamed, "one paragraph\n\nand another", random.Random(0))
        assert not needs_full_render(streamed, "one paragraph\n\nand another")
        assert needs_full_render(streamed, "one paragraph\n\nand another, longer")  # not what it holds
        await streamed.update("")
        await _stream(streamed, "one paragraph\nand another", random.Random(0))
        assert not needs_full_render(streamed, "one paragraph\nand another")
        streamed._markdown = "one paragraph\n\nand another"  # same text claimed, blocks differ
        assert needs_full_render(streamed, "one paragraph\n\nand another")
        await streamed.update("")
        source = "see [the docs][d]\n\n[d]: https://example.org"
        await _stream(streamed, source, random.Random(0))
        assert needs_full_render(streamed, source)
