"""Confidence intervals and paired tests for accuracy scores: pure functions over 0/1 outcomes.

Benchmarks used here are small (tens to a few thousand items) and the models weak, so a bare accuracy
hides how much of a difference between two runs is noise. Wilson's interval stays inside [0, 1] and
behaves at 0/n and n/n, where the normal approximation collapses to a zero-width interval; the paired
tests use the fact that both runs answered the same items, which is far more sensitive than comparing
two independent intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["discordant", "mcnemar_exact", "paired_bootstrap_ci", "paired_difference", "wilson_interval"]


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes out of ``n`` (z = 1.96 gives 95%)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n >= 1")
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Clamp float noise only: at k=0 the low end is exactly 0 in exact arithmetic.
    return max(0.0, center - half), min(1.0, center + half)


Scores = Sequence[float] | Sequence[bool] | np.ndarray


def _paired(a: Scores, b: Scores) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(a, dtype=np.float64)
    xb = np.asarray(b, dtype=np.float64)
    if xa.ndim != 1 or xa.shape != xb.shape:
        raise ValueError(f"paired scores need two 1-D arrays of one length, got {xa.shape} and {xb.shape}")
    if xa.size == 0:
        raise ValueError("paired scores need at least one shared item")
    return xa, xb


def paired_bootstrap_ci(
    a: Scores,
    b: Scores,
    *,
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean difference ``b - a`` over paired items and its percentile bootstrap interval.

    Returns ``(difference, low, high)``. Resampling n items with replacement is the same as drawing
    multinomial counts over the distinct per-item differences (three of them for 0/1 scores), so every
    resample is one multinomial draw: exact, vectorised, and O(resamples) memory instead of
    O(resamples x n) index arrays.
    """
    if resamples < 1:
        raise ValueError("paired_bootstrap_ci needs resamples >= 1")
    if not 0.0 < level < 1.0:
        raise ValueError("paired_bootstrap_ci needs 0 < level < 1")
    xa, xb = _paired(a, b)
    diff = xb - xa
    values, counts = np.unique(diff, return_counts=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(diff.size, counts / diff.size, size=resamples)
    means = draws @ values / diff.size
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(diff.mean()), float(low), float(high)


def discordant(a: Scores, b: Scores) -> tuple[int, int]:
    """``(a_only, b_only)``: items only ``a`` got right, and items only ``b`` got right."""
    xa, xb = _paired(a, b)
    ra, rb = xa.astype(bool), xb.astype(bool)
    return int(np.sum(ra & ~rb)), int(np.sum(~ra & rb))


def mcnemar_exact(a: Scores, b: Scores) -> float:
    """Two-sided exact McNemar p-value: under "no difference" each discordant item is a fair coin.

    Uses ``scipy.stats.binomtest`` when scipy is installed, otherwise the same exact binomial tail with
    integer arithmetic (``math.comb``), so the result does not depend on the optional dependency.
    """
    a_only, b_only = discordant(a, b)
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    try:
        from scipy.stats import binomtest
    except ImportError:
        return _binomial_two_sided(k, n)
    return float(min(1.0, binomtest(k, n, 0.5).pvalue))


def paired_difference(a: Scores, b: Scores, *, resamples: int, seed: int) -> dict[str, Any]:
    """The paired figures ``eval compare`` reports for any set of shared items (all, or one depth bucket):
    both accuracies with Wilson intervals, ``b - a`` with its bootstrap interval, the discordant counts
    and McNemar's p. One function, so a per-bucket figure is computed exactly like the overall one."""
    xa, xb = _paired(a, b)
    n = int(xa.size)
    diff, low, high = paired_bootstrap_ci(xa, xb, resamples=resamples, seed=seed)
    a_only, b_only = discordant(xa, xb)
    return {
        "n": n,
        "accuracy_a": round(float(xa.mean()), 4),
        "accuracy_b": round(float(xb.mean()), 4),
        "ci95_a": [round(x, 4) for x in wilson_interval(int(xa.astype(bool).sum()), n)],
        "ci95_b": [round(x, 4) for x in wilson_interval(int(xb.astype(bool).sum()), n)],
        "difference": round(diff, 4),
        "difference_ci95": [round(low, 4), round(high, 4)],
        "a_only_correct": a_only,
        "b_only_correct": b_only,
        "mcnemar_p": round(mcnemar_exact(xa, xb), 6),
    }


def _binomial_two_sided(k: int, n: int) -> float:
    """P(X <= k) + P(X >= n - k) for X ~ Binomial(n, 1/2), with k <= n / 2; exact, then rounded once."""
    tail = Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))
