"""The speedup panel's "projected on <target>" line: this run's structure through a GPU pair's costs."""

from __future__ import annotations

from textual.content import Content

from relaychat.projection.costmodel import CostModel
from relaychat.projection.project import project
from relaychat.projection.shape import ShapeBuilder


def projected_line(shape: ShapeBuilder, target: CostModel | None) -> Content | None:
    """None when no target is set; the projected speedup (and the bound) once a token has streamed."""
    if target is None:
        return None
    label = f"projected on {target.name} "
    now = shape.shape()
    if now is None:
        return Content.assemble((label, "$relay-muted"), "-")
    p = project(now, target)
    return Content.assemble(
        (label, "$relay-muted"),
        (f"{p.projected_speedup:.2f}×", "bold $accent"),
        (" bound ", "$relay-muted"),
        f"{p.bound_speedup:.2f}×",
    )
