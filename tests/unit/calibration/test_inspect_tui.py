"""The Textual cue-inspect viewer: lists the calibration's traces and follows the selection."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import ListView, Static

from relaychat.calibration.inspection import load_view
from relaychat.calibration.selection import SelectionRule
from relaychat.ui.cue_inspect import CueInspectApp
from tests.unit.calibration.test_outputs import calibrated


async def test_viewer_shows_a_trace_and_moves_between_items(tmp_path: Path) -> None:
    out, _ = await calibrated(tmp_path, SelectionRule("mean-se"))
    app = CueInspectApp(out, load_view(out))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert len(app.query_one("#items", ListView).children) == 4
        assert app.sub_title.endswith("0-s0")
        assert "First, x is 2." in str(app.query_one("#trace", Static).render())
        await pilot.press("j")
        await pilot.pause()
        assert app.sub_title.endswith("0-s1") and app.view.title.endswith("0-s1")
        await pilot.press("k", "k")
        await pilot.pause()
        assert app.sub_title.endswith("0-s0")
