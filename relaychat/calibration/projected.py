"""What a cue set would give on a target pair, next to its accuracy signal, from the calibration traces.

Each large-model trace is relayed on paper: with the cue set, the large model writes up to a cue, the
small model the rest of that sentence, and so on (the runtime's matcher and sentence ends). That
structure goes through the target's cost model (`relaychat project`'s model), and the small model's
share of tokens is scored with the margins the calibration measured: the mean margin over the tokens
the small model would write is the accuracy signal (higher = the small model is surer there).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from relaychat.calibration.stats import TraceMargins
from relaychat.core.cues import CueMatcher
from relaychat.core.sentences import sentence_end
from relaychat.projection.costmodel import CostModel
from relaychat.projection.project import Projection, project, total
from relaychat.projection.shape import SegmentShape, TraceShape

PROMPT_TOKENS = 64  # a short math question in a chat template: only the first request reads it


@dataclass(frozen=True)
class CueSetProjection:
    name: str
    cues: int
    projection: Projection
    small_mean_margin: float | None
    small_tokens: int

    def as_dict(self, global_mean: float | None) -> dict[str, object]:
        p = self.projection
        delta = (
            self.small_mean_margin - global_mean
            if self.small_mean_margin is not None and global_mean is not None
            else None
        )
        return {
            "name": self.name,
            "cues": self.cues,
            "projected_speedup": round(p.projected_speedup, 4),
            "bound_speedup": round(p.bound_speedup, 4),
            "large_share": round(p.large_share, 4),
            "switches_per_1k_tokens": round(1000 * p.switches / p.tokens, 1) if p.tokens else 0.0,
            "small_mean_margin": None if self.small_mean_margin is None else round(self.small_mean_margin, 4),
            "margin_vs_global": None if delta is None else round(delta, 4),
        }


def relay_on_paper(trace: TraceMargins, cues: Sequence[str]) -> tuple[TraceShape, list[float]]:
    """The relay structure `cues` would give this large-model trace, and the small tokens' margins."""
    starts, text = trace.starts, trace.text
    matches = CueMatcher.of(list(cues)).find_all(text) if cues else []
    segments: list[SegmentShape] = []
    margins: list[float] = []
    position = 0  # characters handed out so far
    token = 0

    def upto(char: int) -> int:
        return bisect.bisect_left(starts, char)

    for match in matches:
        if match.start < position:
            continue  # inside the small model's sentence: the relay was not listening
        cut = upto(match.end)
        end_char = sentence_end(text, match.end, final=True) or len(text)
        stop = upto(end_char)
        if cut > token:
            segments.append(SegmentShape("large", "reasoning", cut - token, cut - token, False, False))
        if stop > cut:
            segments.append(SegmentShape("small", "reasoning", stop - cut, stop - cut, False, False))
            margins.extend(m for m in trace.margins[cut:stop] if m is not None)
        token, position = max(stop, cut), end_char
    if len(starts) > token:
        segments.append(
            SegmentShape("large", "reasoning", len(starts) - token, len(starts) - token, False, False)
        )
    switches = max(len(segments) - 1, 0)
    shape = TraceShape(trace.key, "relay", "", PROMPT_TOKENS, True, tuple(segments), 0.0, switches)
    return shape, margins


def project_cue_set(
    name: str, traces: Sequence[TraceMargins], cues: Sequence[str], costs: CostModel
) -> CueSetProjection | None:
    projections: list[Projection] = []
    margins: list[float] = []
    for trace in traces:
        shape, small = relay_on_paper(trace, cues)
        if shape.segments:
            projections.append(project(shape, costs))
            margins.extend(small)
    if not projections:
        return None
    mean = sum(margins) / len(margins) if margins else None
    return CueSetProjection(name, len(cues), total(projections, costs.name), mean, len(margins))


def projection_section(
    traces: Sequence[TraceMargins],
    sets: Mapping[str, Sequence[str]],
    costs: CostModel,
    global_mean: float | None,
) -> dict[str, object]:
    """The cue set file's `projection` entry: each candidate set on the target, beside its signal."""
    rows = []
    for name, cues in sets.items():
        result = project_cue_set(name, traces, cues, costs)
        if result is not None:
            rows.append(result.as_dict(global_mean))
    return {"target": costs.name, "target_title": costs.title, "sets": rows}
