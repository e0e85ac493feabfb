"""Accuracy against latency, one point per mode (with its 95% interval): the paper's trade-off plot."""

from __future__ import annotations

from pathlib import Path

from relaychat.evaluation.report import EvalReport

MODE_COLOURS = {"large": "#1f77b4", "small": "#ff7f0e", "relay": "#2ca02c"}


def plot_accuracy_latency(report: EvalReport, path: Path) -> Path | None:
    """Write a PNG; None when matplotlib (the `plot` extra) is not installed or nothing was scored."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    points = [m for m in report.modes if m.pass_at_1 is not None and m.latency_mean_s is not None]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    for m in points:
        if m.pass_at_1 is None or m.latency_mean_s is None:
            continue  # filtered above; says so to the type checker
        acc = m.pass_at_1 * 100
        low = acc - (m.ci_low or 0) * 100
        high = (m.ci_high if m.ci_high is not None else 1) * 100 - acc
        colour = MODE_COLOURS.get(m.mode, "#555555")
        ax.errorbar(
            m.latency_mean_s,
            acc,
            yerr=[[max(low, 0)], [max(high, 0)]],
            fmt="o",
            color=colour,
            capsize=4,
            markersize=8,
            label=m.mode,
        )
    ax.set_xlabel("mean latency per sample (s)")
    ax.set_ylabel("pass@1 (%)")
    ax.set_ylim(-2, 102)
    ax.set_xlim(0, max(m.latency_mean_s or 0 for m in points) * 1.15 or 1)
    ax.legend(title="mode", loc="upper left")
    ax.grid(alpha=0.3)
    meta = report.meta
    ax.set_title(
        f"{meta.get('dataset', '')} - {meta.get('profile', '')} (budget {meta.get('max_tokens', '?')})"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_projected(report: EvalReport, path: Path) -> Path | None:
    """Accuracy against the projected speedup on the target pair, one point per mode, with each mode's
    token-cost bound (free switches) as a hollow marker: how far switches keep it from the bound."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    points = [m for m in report.modes if m.pass_at_1 is not None and m.projected_speedup is not None]
    if not points:
        return None
    target = next((m.projected_on for m in points if m.projected_on), "target")
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    for m in points:
        if m.pass_at_1 is None or m.projected_speedup is None:
            continue
        colour = MODE_COLOURS.get(m.mode, "#555555")
        acc = m.pass_at_1 * 100
        ax.plot(m.projected_speedup, acc, "o", color=colour, markersize=8, label=m.mode)
        if m.projected_bound is not None and m.projected_bound > m.projected_speedup * 1.001:
            ax.plot(m.projected_bound, acc, "o", mfc="none", color=colour, markersize=8)
            ax.plot([m.projected_speedup, m.projected_bound], [acc, acc], ":", color=colour)
    ax.axvline(1.0, color="#999999", lw=0.8)
    ax.set_xlabel(f"projected speedup over large alone on {target} (hollow: free switches)")
    ax.set_ylabel("pass@1 (%)")
    ax.set_ylim(-2, 102)
    ax.legend(title="mode", loc="lower right")
    ax.grid(alpha=0.3)
    meta = report.meta
    ax.set_title(f"{meta.get('dataset', '')} - {meta.get('profile', '')}, projected on {target}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
