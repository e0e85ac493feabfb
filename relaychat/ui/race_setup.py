"""Build a race from two runs: as measured, or both re-timed at a target's projected pace."""

from __future__ import annotations

from collections.abc import Sequence

from relaychat.core.events import RelayEvent, RunStarted
from relaychat.projection.costmodel import CostModel
from relaychat.projection.retime import as_large_only, retimed
from relaychat.ui.race import Lane, Race


def _names(events: Sequence[RelayEvent]) -> tuple[str, str, str]:
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    if started is None:
        return "relay", "large", "small"
    return started.mode, started.large_model, started.small_model


def make_race(
    relay: Sequence[RelayEvent], alone: Sequence[RelayEvent] | None, target: CostModel | None
) -> Race:
    """`alone` None: the relay's own tokens written by the large model alone (only with a target,
    where the pace comes from the cost model, not from a run nobody made)."""
    if alone is None:
        if target is None:
            raise ValueError("a race without a large-only run needs a target to pace it")
        alone = as_large_only(relay)
        alone_label = "large alone · same tokens"
    else:
        alone_label = "large alone"
    _, large, small = _names(relay)
    relay_label = f"relay · {large} + {small}"
    alone_label = f"{alone_label} · {_names(alone)[1]}"
    if target is not None:
        relay, alone = retimed(relay, target), retimed(alone, target)
        relay_label = f"relay · {target.large.name} + {target.small.name}"
        alone_label = alone_label.replace(_names(alone)[1], target.large.name)
        pace = f"projected on {target.name}"
    else:
        pace = "as measured"
    return Race(Lane(relay_label, list(relay)), Lane(alone_label, list(alone)), pace)
