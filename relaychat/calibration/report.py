"""A human-readable Markdown report of one calibration (the JSON twin is the cue-set file itself)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _num(value: object, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else ("-" if value is None else str(value))


def _cue(cue: str) -> str:
    """Quoted, so a trailing space (`"So "`) stays visible."""
    return f"`{json.dumps(cue, ensure_ascii=False)}`"


def render_markdown(cue_set: dict[str, Any], plot: str | None = None) -> str:
    g = cue_set["global"]
    rule = cue_set["rule"]
    pair = cue_set.get("pair", {})
    dataset = cue_set.get("dataset", {})
    stats: dict[str, dict[str, Any]] = cue_set["statistics"]
    lines = [
        f"# Cue calibration: {cue_set['name']}",
        "",
        (
            f"- pair: large `{pair.get('large')}`, small `{pair.get('small')}` "
            f"(profile `{pair.get('profile')}`)"
        ),
        (
            f"- dataset: `{dataset.get('name')}`, {dataset.get('problems')} problems "
            f"x {dataset.get('samples')} samples, traces of at most {cue_set.get('max_tokens')} tokens, "
            f"seed {cue_set.get('seed')}, top-k {cue_set.get('k')}"
        ),
        (
            f"- scored tokens: {g['tokens']} in {g['traces']} traces; "
            f"**global mean margin {_num(g['mean_margin'])}**"
        ),
        f"- rule: {rule['description']} (standard error: {rule['standard_error']}"
        + (f", {rule['bootstrap_rounds']} bootstrap rounds" if rule.get("bootstrap_rounds") else "")
        + f"; at least {rule['min_occurrences']} occurrences)",
        f"- selected ({len(cue_set['cues'])}): " + (", ".join(map(_cue, cue_set["cues"])) or "none"),
    ]
    timing = cue_set.get("timing")
    if timing:
        lines.append(
            f"- time: {_num(timing.get('wall_s'), 1)} s this session; "
            f"trace generation {_num(timing.get('trace_s'), 1)} s, "
            f"scoring {_num(timing.get('score_s'), 1)} s summed over items"
        )
    if plot:
        lines += ["", f"![cue margins]({plot})"]
    lines += [
        "",
        (
            "Mean = mean over occurrences of each occurrence's mean post-cue margin (token mean: the "
            "paper's pooled score). SE = the standard error the rule used; bar = what the mean had to "
            f"reach (global mean {_num(g['mean_margin'])} + the rule's term); token SE = the reference's "
            "pooled-token SE, shown for comparison only."
        ),
        "",
        "| cue | kept | occurrences | traces | tokens | mean | SE | bar | mean - global "
        "| token mean | token SE | why |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    order = sorted(stats.items(), key=lambda kv: (kv[1]["mean"] is None, -(kv[1]["mean"] or 0.0)))
    for cue, s in order:
        if not s["occurrences"]:
            continue
        delta = (
            s["mean"] - g["mean_margin"] if s["mean"] is not None and g["mean_margin"] is not None else None
        )
        lines.append(
            f"| {_cue(cue)} | {'yes' if s['selected'] else 'no'} | {s['occurrences']} | {s['traces']} "
            f"| {s['tokens']} | {_num(s['mean'])} | {_num(s['se'])} | {_num(s['bar'])} | {_num(delta)} "
            f"| {_num(s['token_mean'])} | {_num(s['se_token'])} | {s['reason']} |"
        )
    lines += projection_lines(cue_set.get("projection"))
    absent = [c for c, s in stats.items() if not s["occurrences"]]
    if absent:
        lines += ["", f"Never followed by a scored token ({len(absent)}): " + ", ".join(map(_cue, absent))]
    return "\n".join(lines) + "\n"


def projection_lines(section: dict[str, Any] | None) -> list[str]:
    """Each candidate cue set's projected speedup on the target beside its accuracy signal."""
    if not section or not section.get("sets"):
        return []
    lines = [
        "",
        f"## Cue sets projected on {section['target_title']} ({section['target']})",
        "",
        "The calibration traces relayed on paper with each set (large up to a cue, small to the end of "
        "the sentence), projected through the target's costs. Signal: the mean margin over the tokens "
        "the small model would write, and its gap to the global mean (higher: the small model is surer "
        "where it takes over).",
        "",
        "| cue set | cues | projected speedup | bound | large share | switches / 1k tokens "
        "| small mean margin | vs global |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in section["sets"]:
        lines.append(
            f"| {row['name']} | {row['cues']} | {row['projected_speedup']:.2f}x "
            f"| {row['bound_speedup']:.2f}x "
            f"| {row['large_share'] * 100:.1f} % | {row['switches_per_1k_tokens']} "
            f"| {_num(row['small_mean_margin'])} | {_num(row['margin_vs_global'])} |"
        )
    return lines


def write_report(path: Path, cue_set: dict[str, Any], plot: str | None = None) -> Path:
    path.write_text(render_markdown(cue_set, plot), encoding="utf-8")
    return path
