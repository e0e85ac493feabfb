"""Each mode's projected speedup on a target pair: its samples' traces through the target's cost model.

Per mode, the samples' projected times add up (as the measured speedup does): large alone for the
same tokens over the mode's projected time, summed over the samples that finished with a trace.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from relaychat.evaluation.records import SampleRecord
from relaychat.projection.costmodel import CostModel
from relaychat.projection.project import project
from relaychat.projection.shape import ShapeError, load_shape


@dataclass(frozen=True)
class ModeProjection:
    speedup: float
    bound: float
    samples: int


def project_modes(
    records: Iterable[SampleRecord], folder: Path, costs: CostModel
) -> dict[str, ModeProjection]:
    """Mode -> projected speedup over large alone on `costs`; samples without a usable trace are skipped."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])  # alone, mode, ideal, n
    for record in records:
        if record.status != "ok" or not record.trace:
            continue
        try:
            p = project(load_shape(folder / record.trace), costs)
        except ShapeError:
            continue
        acc = sums[record.mode]
        acc[0] += p.large_only_s
        acc[1] += p.relay_s
        acc[2] += p.ideal_s
        acc[3] += 1
    return {
        mode: ModeProjection(alone / spent, alone / ideal, int(n))
        for mode, (alone, spent, ideal, n) in sums.items()
        if spent > 0 and ideal > 0
    }


def with_projection(modes: Mapping[str, ModeProjection], name: str) -> dict[str, dict[str, object]]:
    """The ModeReport fields to update, per mode."""
    return {
        mode: {"projected_speedup": p.speedup, "projected_bound": p.bound, "projected_on": name}
        for mode, p in modes.items()
    }
