"""What `relaychat cues inspect` shows: one trace, a margin per token span, and where each cue fires.

Two sources: an item of a calibration directory (the small model's margins on a large-model trace,
exactly what the selection used), or a `relaychat run` trace (each token's margin under the model
that wrote it). Cue marks come from the shared matcher and segment code, so what is shown is what
was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from pydantic import ValidationError

from relaychat.calibration.pipeline import load_done
from relaychat.calibration.segments import post_cue_segments
from relaychat.calibration.store import StateError
from relaychat.core.cueset import CueSet, CueSetError, load_cue_set
from relaychat.core.events import RunStarted, TokenDelta
from relaychat.core.trace import TraceError, load_trace


class InspectError(ValueError):
    pass


@dataclass(frozen=True)
class TokenSpan:
    start: int
    end: int
    margin: float | None


@dataclass(frozen=True)
class CueMark:
    cue: str
    cue_start: int
    start: int  # post-cue segment
    end: int
    kept: bool
    mean: float | None  # mean margin over this segment's tokens
    tokens: int


@dataclass
class InspectView:
    title: str
    source: str
    text: str
    spans: list[TokenSpan]
    marks: list[CueMark]
    kept: list[str]
    statistics: dict[str, dict[str, Any]] = field(default_factory=dict)
    global_mean: float | None = None
    keys: list[str] = field(default_factory=list)  # other items of the same calibration


def _marks(text: str, spans: list[TokenSpan], cues: list[str], kept: set[str]) -> list[CueMark]:
    starts = [s.start for s in spans]
    marks = []
    for seg in post_cue_segments(text, starts, cues):
        values = [m for s in spans[seg.first_token : seg.last_token] if (m := s.margin) is not None]
        marks.append(
            CueMark(
                seg.cue,
                seg.cue_start,
                seg.start,
                seg.end,
                seg.cue in kept,
                fmean(values) if values else None,
                seg.token_count,
            )
        )
    return sorted(marks, key=lambda m: (m.cue_start, m.cue))


def _cue_set(path: Path | None) -> CueSet | None:
    if path is None:
        return None
    try:
        return load_cue_set(path)
    except CueSetError as exc:
        raise InspectError(str(exc)) from exc


def _view(
    title: str, source: str, text: str, spans: list[TokenSpan], cue_set: CueSet, keys: list[str]
) -> InspectView:
    stats = cue_set.metadata.get("statistics") or {}
    candidates = list(stats) if stats else list(cue_set.cues)
    kept = set(cue_set.cues)
    global_mean = (cue_set.metadata.get("global") or {}).get("mean_margin")
    return InspectView(
        title,
        source,
        text,
        spans,
        _marks(text, spans, candidates, kept),
        list(cue_set.cues),
        stats,
        global_mean,
        keys,
    )


def from_calibration(folder: Path, key: str | None, cue_file: Path | None) -> InspectView:
    manifest = folder / "calibration.json"
    if not manifest.is_file():
        raise InspectError(f"{folder} is not a calibration directory (no calibration.json)")
    try:
        traces, scores = load_done(folder)
    except (StateError, ValidationError, KeyError, TypeError, AttributeError) as exc:
        raise InspectError(f"{folder} holds a record that cannot be read: {exc}") from exc
    keys = sorted(scores, key=_natural)
    if not keys:
        raise InspectError(f"{folder} has no scored traces yet")
    chosen = key or keys[0]
    if chosen not in scores:
        raise InspectError(f"no scored trace {chosen!r} in {folder} (have: {', '.join(keys[:10])}...)")
    cue_path = cue_file or (folder / "cues.json" if (folder / "cues.json").is_file() else None)
    cue_set = _cue_set(cue_path)
    if cue_set is None:
        raise InspectError(f"{folder} has no cues.json yet: pass --cues FILE")
    scored = scores[chosen]
    spans = [TokenSpan(s, e, m) for s, e, m in zip(scored.starts, scored.ends, scored.margins, strict=False)]
    record = traces[chosen]
    source = f"margins of the small model {scored.model} on a trace of {record.model} (calibration item)"
    return _view(f"{folder.name} / {chosen}", source, record.reasoning, spans, cue_set, keys)


def from_run_trace(path: Path, cue_file: Path | None) -> InspectView:
    try:
        events = load_trace(path)
    except TraceError as exc:
        raise InspectError(str(exc)) from exc
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    text = ""
    spans: list[TokenSpan] = []
    for event in events:
        if not isinstance(event, TokenDelta) or event.stage != "reasoning":
            continue
        values = [m for m in event.margins if m is not None]
        spans.append(TokenSpan(len(text), len(text) + len(event.text), fmean(values) if values else None))
        text += event.text
    cue_set = _cue_set(cue_file) or CueSet(cues=list(started.cues) if started else [], name="the run's cues")
    source = "margins of the model that wrote each token (run trace)"
    return _view(path.name, source, text, spans, cue_set, [])


def load_view(target: Path, key: str | None = None, cue_file: Path | None = None) -> InspectView:
    """A calibration directory (or a file inside one), or a run trace file."""
    if target.is_file() and (target.parent / "calibration.json").is_file():
        target = target.parent
    if target.is_dir():
        return from_calibration(target, key, cue_file)
    if not target.exists():
        raise InspectError(f"nothing at {target}")
    return from_run_trace(target, cue_file)


def _natural(key: str) -> tuple[Any, ...]:
    head, _, sample = key.rpartition("-s")
    return (int(head) if head.isdigit() else 10**9, head, int(sample) if sample.isdigit() else 0)
