"""One turn on screen: the question, the coloured reasoning, the Markdown answer, a result line.

Events arrive in batches (the app flushes at ~25 Hz); a batch touches only the blocks it changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Markdown, Static
from textual.widgets._markdown import MarkdownStream

from relaychat.core.events import (
    CueHit,
    RelayEvent,
    Role,
    RunFailed,
    RunFinished,
    RunStarted,
    StageChanged,
    TokenDelta,
)
from relaychat.inert import inert
from relaychat.ui.answer_markdown import answer_parser
from relaychat.ui.end_note import end_note
from relaychat.ui.widgets.markdown_check import needs_full_render
from relaychat.ui.widgets.trace_block import TraceBlock

# A block is sealed at the next line break once it holds this many characters. The open block is
# re-wrapped at every flush, so its size is paid 25 times a second: at 1,000 tok/s, 1,200 gave frames
# of up to 62 ms of CPU in the 8k-token replay, 500 up to 30 ms.
BLOCK_SOFT = 500
BLOCK_HARD = 4000  # ...or at the next space, for text without line breaks
MAX_MERGE_LEVEL = 4  # sealed blocks merge up to 2**4 blocks (~8k characters) per widget


class TurnView(Vertical):
    DEFAULT_CLASSES = "turn"

    def __init__(self, question: str, label: str = "you") -> None:
        super().__init__()
        self.question = question
        self.label = label
        self.blocks: list[TraceBlock] = []
        self._unmounted: list[TraceBlock] = []
        self._answer: Markdown | None = None
        self._stream: MarkdownStream | None = None
        self._answer_parts: list[str] = []
        self.answer_model: Role | None = None
        self.status = "running"
        self.budget: int | None = None
        self.cut_short: str | None = None  # "stopped at the budget" and the like

    def compose(self) -> ComposeResult:
        yield Static(
            Content.assemble((f"{self.label} ", "bold $primary"), inert(self.question)), classes="question"
        )
        yield Static(Content.styled("thinking…", "$relay-muted"), classes="stage-label", id="reasoning-label")
        yield Vertical(classes="reasoning", id="reasoning")
        yield Static("", classes="result", id="result")

    # -- events -----------------------------------------------------------------------------------

    async def apply(self, events: Sequence[RelayEvent]) -> None:
        dirty: dict[int, TraceBlock] = {}
        answer: list[str] = []
        for event in events:
            if isinstance(event, TokenDelta):
                text = inert(event.text)  # model output is data: ESC shows as ␛, never reaches the terminal
                if event.stage == "reasoning":
                    self._append(text, event.model, dirty)
                else:
                    if self._answer is None:
                        await self._open_answer(event.model)
                    answer.append(text)
            elif isinstance(event, CueHit):
                self._mark_cue(event.offset, event.offset + len(event.cue), dirty)
            elif isinstance(event, StageChanged) and event.stage == "answer":
                if event.inserted_text:  # the marker the relay added, or the blank line after a written one
                    self._append(inert(event.inserted_text.rstrip("\n")), None, dirty)
            elif isinstance(event, RunStarted):
                self._label_reasoning(event)
            elif isinstance(event, (RunFinished, RunFailed)):
                self._show_result(event)
        for block in dirty.values():
            if block.parent is not None or block in self._unmounted:
                block.redraw()
        if self._unmounted:  # one mount (one layout pass) for all the blocks this batch opened
            fresh, self._unmounted = self._unmounted, []
            await self.query_one("#reasoning", Vertical).mount_all(fresh)
        if answer and self._stream is not None:
            self._answer_parts.extend(answer)
            await self._stream.write("".join(answer))
        if isinstance(events[-1] if events else None, (RunFinished, RunFailed)):
            await self.close_stream()

    def _append(self, text: str, role: Role | None, dirty: dict[int, TraceBlock]) -> None:
        block = self.blocks[-1] if self.blocks else self._new_block(0)
        while text:
            size = block.styled.length
            cut = text.find("\n") if size >= BLOCK_SOFT else -1
            if cut < 0 and size >= BLOCK_HARD:
                cut = text.find(" ")
            if cut < 0:
                block.styled.append(text, role)
                dirty[id(block)] = block
                return
            # The separator becomes the boundary between two blocks (each block starts a new line).
            block.styled.append(text[:cut], role)
            dirty[id(block)] = block
            block = self._new_block(block.styled.end + 1, lead=text[cut])
            self._merge_sealed(dirty)
            text = text[cut + 1 :]

    def _merge_sealed(self, dirty: dict[int, TraceBlock]) -> None:
        """Merge the last two sealed blocks while they are the same size class (a binary counter)."""
        sealed = self.blocks[:-1]
        while len(sealed) >= 2 and sealed[-1].level == sealed[-2].level < MAX_MERGE_LEVEL:
            keep, gone = sealed[-2], sealed.pop()
            keep.absorb(gone)
            dirty[id(keep)] = keep
            dirty.pop(id(gone), None)
            self.blocks.remove(gone)
            if gone in self._unmounted:
                self._unmounted.remove(gone)
            else:
                gone.remove()

    def _new_block(self, start: int, lead: str = "") -> TraceBlock:
        block = TraceBlock(start, lead)
        self.blocks.append(block)
        self._unmounted.append(block)
        return block

    def _mark_cue(self, start: int, end: int, dirty: dict[int, TraceBlock]) -> None:
        for block in reversed(self.blocks):
            if block.styled.mark_cue(start, end):
                dirty[id(block)] = block
            if block.styled.start <= start:
                break

    def _label_reasoning(self, event: RunStarted) -> None:
        self.budget = event.max_tokens
        parts: list[tuple[str, str] | str] = [("thinking ", "bold $relay-muted")]
        if event.mode in ("relay", "large"):
            parts += [("■ ", "$relay-large"), (inert(event.large_model or "large"), "$relay-large"), "  "]
        if event.mode in ("relay", "small"):
            parts += [("■ ", "$relay-small"), (inert(event.small_model or "small"), "$relay-small"), "  "]
        parts.append((f"mode {event.mode} · budget {event.max_tokens}", "$relay-muted"))
        self.query_one("#reasoning-label", Static).update(Content.assemble(*parts))

    async def _open_answer(self, role: Role) -> None:
        self.answer_model = role
        label = Static(
            Content.assemble(
                ("answer ", "bold $relay-muted"), (f"written by the {role} model", f"$relay-{role}")
            ),
            classes="stage-label answer-label",
        )
        self._answer = Markdown(classes=f"answer -{role}", parser_factory=answer_parser)
        await self.mount(label, self._answer, before=self.query_one("#result"))
        self._stream = Markdown.get_stream(self._answer)

    async def close_stream(self) -> None:
        """End the answer stream. Streamed Markdown is parsed in fragments, and the final layout must
        not depend on where they split: the whole answer is rendered again when its blocks differ
        from a full parse (rarely: that render is what used to stall the last frame)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
            source = "".join(self._answer_parts)
            if self._answer is not None and needs_full_render(self._answer, source):
                await self._answer.update(source)

    def _show_result(self, event: RunFinished | RunFailed) -> None:
        summary = event.summary
        share = summary.large_share
        facts = (
            f"{summary.total_tokens} tokens · large share {share * 100:.0f}% · {summary.switches} switches · "
            f"{summary.wall_s:.1f} s"
            if share is not None
            else f"{summary.total_tokens} tokens · {summary.wall_s:.1f} s"
        )
        if summary.reasoning_ended_by == "context_limit" and summary.finish_reason != "context_limit":
            facts += " · reasoning ended: context_limit (the server's context window is full)"
        self._facts = facts
        if isinstance(event, RunFailed):
            self.status = "failed"
            self.set_result(
                Content.assemble(("failed: ", "bold $error"), inert(event.error.message), f"  ({facts})")
            )
            return
        self.status = "done"
        note = end_note(summary, self.budget)
        if note is None:
            self.set_result(Content.assemble(("✓ ", "$success"), (facts, "$relay-muted")))
        else:  # cut short: it must not look finished
            self.cut_short = note
            self.set_result(
                Content.assemble(
                    ("⚠ ", "bold $warning"), (note, "bold $warning"), ("  " + facts, "$relay-muted")
                )
            )

    def explain_failure(self, sentence: str) -> None:
        """Replace a failed turn's raw error by a sentence a person can act on (the raw text is saved)."""
        facts = getattr(self, "_facts", "")
        self.set_result(
            Content.assemble(
                ("✗ ", "bold $error"), sentence, (f"  ({facts})" if facts else "", "$relay-muted")
            )
        )

    def set_result(self, content: Content | str) -> None:
        self.query_one("#result", Static).update(content)

    async def mark_cancelled(self) -> None:
        self.status = "cancelled"
        await self.close_stream()
        self.set_result(Content.styled("cancelled (Esc): the servers were told to stop", "$warning"))

    @property
    def reasoning_text(self) -> str:
        """What is on screen, block boundaries restored (used by tests and the benchmark)."""
        return "".join(block.lead + block.styled.text for block in self.blocks)
