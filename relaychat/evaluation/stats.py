"""Small statistics shared by the evaluation report and the benchmark: intervals and percentiles."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import fmean, median

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion: sane at 0/n and n/n, unlike the normal approximation."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))  # exact at 0/n and n/n


def cluster_bootstrap(
    groups: Sequence[Sequence[float]], draws: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% interval of the mean of per-group means, resampling groups (problems), not samples.

    Samples of one problem are correlated; resampling them as if independent would make the
    interval far too narrow.
    """
    means = [fmean(g) for g in groups if g]
    if not means:
        return (0.0, 1.0)
    if len(means) == 1:
        return (means[0], means[0])
    rng = random.Random(seed)
    stats = sorted(fmean(rng.choices(means, k=len(means))) for _ in range(draws))
    return (stats[int(0.025 * (draws - 1))], stats[math.ceil(0.975 * (draws - 1))])


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def describe(values: Sequence[float]) -> dict[str, float | None]:
    """mean / median / p99 / count, the vLLM benchmark trio."""
    vals = list(values)
    return {
        "mean": fmean(vals) if vals else None,
        "median": median(vals) if vals else None,
        "p99": percentile(vals, 99),
        "n": float(len(vals)),
    }
