"""What calibration leaves behind: a loadable cue-set file with its provenance, a report, a plot,
an inspectable trace, and a diff between two cue sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relaychat.calibration.analysis import analyse, trace_margins
from relaychat.calibration.candidates import CANDIDATE_POOL
from relaychat.calibration.diff import diff_cue_sets
from relaychat.calibration.inspect_render import cue_table, shaded_text
from relaychat.calibration.inspection import InspectError, load_view
from relaychat.calibration.output import build_cue_set, write_cue_set
from relaychat.calibration.pipeline import run_pipeline
from relaychat.calibration.plot import plot_cue_margins
from relaychat.calibration.report import render_markdown
from relaychat.calibration.selection import SelectionRule
from relaychat.cli.main import main
from relaychat.core.cueset import load_cue_set
from relaychat.relay import open_relay
from tests.unit.calibration.test_pipeline import setup


async def calibrated(tmp_path: Path, rule: SelectionRule | None = None) -> tuple[Path, dict]:  # type: ignore[type-arg]
    rule = rule or SelectionRule("all")
    settings, profile, large, small = setup(tmp_path)
    result = await run_pipeline(
        settings, open_relay(profile, backends={"large": large, "small": small}, policy=None)
    )
    analysis = analyse(
        trace_margins(result.traces, result.scores),
        CANDIDATE_POOL,
        rule,
        "bootstrap",
        seed=3,
        bootstrap_rounds=200,
    )
    cue_set = build_cue_set(
        "demo",
        analysis,
        {
            "pair": {"profile": "cpu-demo", "large": "L", "small": "S"},
            "dataset": {"name": "toy", "problems": 2, "samples": 2},
            "seed": 3,
            "k": 20,
            "max_tokens": 60,
        },
    )
    write_cue_set(settings.out / "cues.json", cue_set)
    return settings.out, cue_set


async def test_cue_set_file_loads_as_a_cue_set_and_keeps_its_provenance(tmp_path: Path) -> None:
    out, data = await calibrated(tmp_path)
    loaded = load_cue_set(out / "cues.json")
    assert loaded.cues == data["cues"] and set(loaded.cues) == {"Now,", "Now", "So "}
    meta = loaded.metadata
    assert meta["rule"]["name"] == "all" and meta["rule"]["standard_error"] == "bootstrap"
    assert meta["seed"] == 3 and meta["k"] == 20 and meta["pair"]["small"] == "S"
    assert len(meta["statistics"]) == 91  # dropped candidates are recorded too
    now = meta["statistics"]["Now,"]
    assert now["occurrences"] == 4 and now["traces"] == 4 and now["selected"] is True
    assert meta["global"]["tokens"] > now["tokens"] > 0


async def test_report_and_plot(tmp_path: Path) -> None:
    out, data = await calibrated(tmp_path, SelectionRule("mean-se", 1.0))
    markdown = render_markdown(data, "margins.png")
    assert (
        "global mean margin" in markdown
        and '`"So "`' in markdown
        and "![cue margins](margins.png)" in markdown
    )
    assert markdown.count("\n| `") == sum(1 for s in data["statistics"].values() if s["occurrences"])
    png = plot_cue_margins(data, out / "margins.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_inspect_view_marks_every_cue_firing_with_its_verdict(tmp_path: Path) -> None:
    out, data = await calibrated(tmp_path, SelectionRule("mean-se", 1.0))
    view = load_view(out, "1-s1")
    assert view.keys == ["0-s0", "0-s1", "1-s0", "1-s1"]
    fired = {m.cue for m in view.marks}
    assert {"Now,", "Now", "So "} <= fired
    for mark in view.marks:
        assert mark.kept == (mark.cue in data["cues"])
        assert view.text[mark.cue_start : mark.start] == mark.cue.rstrip()
    assert shaded_text(view).plain == view.text
    assert cue_table(view).row_count == len(fired)
    with pytest.raises(InspectError, match="no scored trace"):
        load_view(out, "9-s9")


def test_diff_reports_moved_cues_and_changed_settings(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(
        json.dumps(
            {
                "cues": ["Now,", "So "],
                "seed": 0,
                "rule": {"threshold": 1.0},
                "statistics": {"Now,": {"mean": 0.7, "se": 0.1, "occurrences": 5}},
            }
        )
    )
    b.write_text(json.dumps({"cues": ["So ", "Thus"], "seed": 0, "rule": {"threshold": 2.0}}))
    diff = diff_cue_sets(load_cue_set(a), load_cue_set(b))
    assert (diff.only_a, diff.only_b, diff.both) == (["Now,"], ["Thus"], ["So "])
    assert diff.metadata == [("rule.threshold", 1.0, 2.0)]
    assert [r.cue for r in diff.rows] == ["Now,", "So ", "Thus"] and diff.rows[0].stats_a["mean"] == 0.7


def test_cues_diff_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"cues": ["Now,"]}))
    b.write_text(json.dumps({"cues": ["Now,", "Thus"]}))
    with pytest.raises(SystemExit) as exit_:
        main(["cues", "diff", str(a), str(b), "--json"])
    assert exit_.value.code == 0
    assert json.loads(capsys.readouterr().out)["only_b"] == ["Thus"]
    with pytest.raises(SystemExit) as exit_:
        main(["cues", "diff", str(a), str(tmp_path / "missing.json")])
    assert exit_.value.code == 2 and "no cue-set file" in " ".join(capsys.readouterr().err.split())


def test_cues_inspect_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["cues", "inspect", str(tmp_path)])
    assert exit_.value.code == 2 and "not a calibration directory" in " ".join(
        capsys.readouterr().err.split()
    )


def test_calibrate_rejects_an_unknown_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "amc23.jsonl").write_text('{"id": 0, "problem": "1+1?"}\n')
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", "--data", str(tmp_path), "--dataset", "nope", "--no-autostart"])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2 and "unknown dataset 'nope'" in err and "amc23" in err


def test_calibrate_says_where_it_looked_for_a_missing_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("relaychat.evaluation.datasets.default_data_dirs", lambda explicit=None: [tmp_path])
    monkeypatch.setattr("relaychat.evaluation.datasets._from_hub", lambda name: None)
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", "--data", str(tmp_path), "--dataset", "aime25", "--no-autostart"])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2 and "aime25.jsonl not found" in err and str(tmp_path) in err
