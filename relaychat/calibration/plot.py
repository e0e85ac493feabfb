"""A PNG of every occurring cue's mean post-cue margin with its standard error, against the global mean.

matplotlib is an optional extra (`pip install relaychat[plot]`): without it the plot is skipped with
a message, never a failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class PlotUnavailable(RuntimeError):
    pass


def plot_cue_margins(cue_set: dict[str, Any], path: Path) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable("matplotlib is not installed (pip install 'relaychat[plot]'): no plot") from exc
    stats = {c: s for c, s in cue_set["statistics"].items() if s["mean"] is not None}
    order = sorted(stats, key=lambda c: stats[c]["mean"])
    global_mean = cue_set["global"]["mean_margin"]
    height = max(3.0, 0.28 * len(order) + 1.5)
    fig, ax = plt.subplots(figsize=(8, height))
    ys = range(len(order))
    means = [stats[c]["mean"] for c in order]
    errors = [stats[c]["se"] or 0.0 for c in order]
    colours = ["tab:green" if stats[c]["selected"] else "tab:gray" for c in order]
    ax.errorbar(means, ys, xerr=errors, fmt="none", ecolor="black", elinewidth=0.8, capsize=2, zorder=1)
    ax.scatter(means, ys, c=colours, zorder=2, s=22)
    for y, cue in zip(ys, order, strict=False):
        bar = stats[cue]["bar"]
        if bar is not None:
            ax.plot([bar, bar], [y - 0.35, y + 0.35], color="tab:red", linewidth=0.8, zorder=1)
    if global_mean is not None:
        ax.axvline(
            global_mean, color="tab:blue", linestyle="--", linewidth=1, label=f"global mean {global_mean:.3f}"
        )
    ax.set_yticks(list(ys))
    ax.set_yticklabels([f"{c!r} (n={stats[c]['occurrences']})" for c in order], fontsize=8)
    ax.set_xlabel("mean post-cue margin p1 - p2 of the small model (± SE); red tick = the rule's bar")
    rule = cue_set["rule"]
    ax.set_title(
        f"{cue_set['name']}: {len(cue_set['cues'])} selected (green) by {rule['description']}", fontsize=9
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
