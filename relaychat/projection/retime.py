"""A saved run re-timed at a target's projected pace: the same events, each at the time it would have
on the target's cost model (what the race view plays when it is "projected")."""

from __future__ import annotations

from collections.abc import Sequence

from relaychat.core.events import (
    RelayEvent,
    RunFailed,
    RunFinished,
    RunStarted,
    SegmentEnded,
    SegmentStarted,
    TokenDelta,
)
from relaychat.projection.costmodel import CostModel
from relaychat.projection.project import segment_costs
from relaychat.projection.shape import ShapeBuilder


def retimed(events: Sequence[RelayEvent], costs: CostModel) -> list[RelayEvent]:
    """The events with `t` replaced by projected seconds (warm handoffs); other fields unchanged."""
    builder = ShapeBuilder()
    for event in events:
        builder.add(event)
    shape = builder.shape()
    if shape is None:
        return list(events)
    plan = segment_costs(shape, costs, "warm")
    out: list[RelayEvent] = []
    ms = 0.0
    segment = -1
    streamed = 0
    for event in events:
        if isinstance(event, SegmentStarted):
            segment += 1
            streamed = 0
        elif isinstance(event, TokenDelta) and 0 <= segment < len(plan):
            cost = plan[segment]
            count = len(event.token_ids) or len(event.margins) or (1 if event.text else 0)
            if streamed == 0 and count:
                ms += cost.first_ms + cost.step_ms * (count - 1)
            else:
                ms += cost.step_ms * count
            streamed += count
        elif isinstance(event, SegmentEnded) and 0 <= segment < len(plan):
            ms += plan[segment].step_ms * event.discarded_tokens  # streamed past the cut, dropped
        out.append(event.model_copy(update={"t": ms / 1000}))
    return out


def as_large_only(events: Sequence[RelayEvent]) -> list[RelayEvent]:
    """The same tokens written by the large model alone, one segment (the race's stand-in for a
    large-only run nobody has made: meaningful at a projected pace, where only the tokens count)."""
    out: list[RelayEvent] = []
    tokens = 0
    for event in events:
        if isinstance(event, RunStarted):
            out.append(event.model_copy(update={"mode": "large"}))
            out.append(SegmentStarted(t=event.t, index=0, model="large", stage="reasoning", trigger="start"))
        elif isinstance(event, TokenDelta):
            tokens += len(event.token_ids) or len(event.margins) or (1 if event.text else 0)
            out.append(event.model_copy(update={"model": "large", "segment": 0}))
        elif isinstance(event, (RunFinished, RunFailed)):
            end = SegmentEnded(
                t=event.t, index=0, model="large", stage="reasoning", reason="eos", tokens=tokens
            )
            out.extend([end, event])
    return out
