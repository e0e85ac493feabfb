"""Transcript exports: HTML coloured like the screen (current theme's colours), and JSONL.

Both are folded from each turn's events, the same record the screen was drawn from.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from markdown_it import MarkdownIt

from relaychat.core.events import (
    CueHit,
    RelayEvent,
    Role,
    RunStarted,
    StageChanged,
    TokenDelta,
)
from relaychat.core.summary import summarize
from relaychat.inert import inert
from relaychat.ui.session import Turn
from relaychat.ui.styled_text import StyledText


@dataclass
class FoldedTurn:
    reasoning: StyledText = field(default_factory=StyledText)
    answer: list[str] = field(default_factory=list)
    answer_model: Role | None = None
    models: dict[str, str] = field(default_factory=dict)


def fold(events: Sequence[RelayEvent]) -> FoldedTurn:
    folded = FoldedTurn()
    for event in events:
        if isinstance(event, RunStarted):
            folded.models = {"large": inert(event.large_model), "small": inert(event.small_model)}
        elif isinstance(event, TokenDelta):
            if event.stage == "reasoning":
                folded.reasoning.append(event.text, event.model)
            else:
                folded.answer.append(event.text)
                folded.answer_model = event.model
        elif isinstance(event, CueHit):
            folded.reasoning.mark_cue(event.offset, event.offset + len(event.cue))
        elif isinstance(event, StageChanged) and event.inserted_text:
            # The marker the relay appended is a run of its own; the blank line after a written marker
            # belongs to the model that wrote it.
            runs = folded.reasoning.runs
            role = runs[-1].role if runs and not event.appended_marker else None
            folded.reasoning.append(event.inserted_text, role)
    return folded


def turn_record(turn: Turn) -> dict[str, object]:
    folded = fold(turn.events)
    summary = summarize(turn.events) if turn.events else None
    return {
        "question": turn.question,
        "source": turn.source,
        "status": turn.status,
        "trace": str(turn.trace) if turn.trace else None,
        "models": folded.models,
        "segments": [{"model": r.role, "text": r.text, "cue": r.cue} for r in folded.reasoning.runs],
        "answer": "".join(folded.answer),
        "answer_model": folded.answer_model,
        "summary": summary.model_dump(exclude={"reasoning", "answer"}) if summary else None,
    }


def export_jsonl(turns: Sequence[Turn], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for turn in turns:
            handle.write(json.dumps(turn_record(turn), ensure_ascii=False) + "\n")
    return path


_CSS = """
body {{ background: {background}; color: {foreground}; font: 15px/1.5 ui-monospace, monospace;
       max-width: 60em; margin: 2em auto; padding: 0 1em; }}
.large {{ color: {relay-large}; }} .small {{ color: {relay-small}; }} .marker {{ color: {relay-muted}; }}
.cue {{ text-decoration: underline; text-decoration-color: {relay-cue}; font-weight: bold; }}
.question {{ border-left: 3px solid {primary}; padding-left: .8em; margin-top: 2em; }}
.reasoning {{ white-space: pre-wrap; border-left: 1px solid {relay-muted}; padding-left: .8em; }}
.answer {{ padding-left: .8em; border-left: 3px solid var(--answer); }}
.note, .legend {{ color: {relay-muted}; }}
"""


def export_html(turns: Sequence[Turn], path: Path, colours: Mapping[str, str]) -> Path:
    """`colours`: the theme's variables (background, foreground, primary, relay-large, relay-small...)."""
    # The answer is model output: no raw HTML (a `<script>` or `<img onerror>` would run when the file
    # is opened), and links only to safe schemes (markdown-it's default validateLink drops javascript:).
    markdown = MarkdownIt("commonmark", {"html": False})
    body: list[str] = [
        (
            "<p class='legend'>reasoning: <span class='large'>large model</span> · "
            "<span class='small'>small model</span> · <span class='cue large'>switch cue</span></p>"
        )
    ]
    for turn in turns:
        folded = fold(turn.events)
        if turn.source == "replay":  # a replayed trace is shown, not asked: it was never context
            name = turn.trace.name if turn.trace else "a trace"
            body.append(
                f"<p class='note'>replay of {html.escape(inert(name))}, not part of the conversation</p>"
            )
        body.append(f"<div class='question'><b>{html.escape(inert(turn.question))}</b></div>")
        if folded.models:
            body.append(
                "<p class='note'>large "
                f"<span class='large'>{html.escape(folded.models['large'] or '-')}</span>"
                f" · small <span class='small'>{html.escape(folded.models['small'] or '-')}</span></p>"
            )
        spans = []
        for run in folded.reasoning.runs:
            classes = " ".join(filter(None, [run.role or "marker", "cue" if run.cue else ""]))
            spans.append(f"<span class='{classes}'>{html.escape(inert(run.text))}</span>")
        body.append(f"<div class='reasoning'>{''.join(spans)}</div>")
        role = folded.answer_model or "small"
        body.append(
            f"<div class='answer' style='--answer: {colours.get('relay-' + role, 'gray')}'>"
            f"{markdown.render(inert(''.join(folded.answer)))}</div>"
        )
        if turn.status != "done":
            body.append(f"<p class='note'>({turn.status})</p>")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    css = _CSS.format_map(_Defaulting(colours))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>RelayChat transcript {stamp}</title>"
        f"<style>{css}</style></head><body><h1>RelayChat transcript</h1><p class='note'>{stamp}</p>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "inherit"
