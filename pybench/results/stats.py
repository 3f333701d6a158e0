"""The statistics of timing samples, defined once for the harness, the result frames, the
history store and the reports.

Samples are per-repetition mean call times of one benchmark, repetitions interleaved at
random with the other benchmarks of the run; they are treated as independent draws, and
nothing assumes a normal distribution.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["STATISTICS", "summarize", "median", "median_ci", "median_ci_rel"]

#: The keys of :func:`summarize`, in display order.
STATISTICS = ("median", "mean", "stddev", "cv", "p10", "p90")


def median(samples: Sequence[float]) -> float:
    """Median (mean of the two middle samples for an even count); NaN for none. The
    statistic to compare: robust to the occasional repetition slowed by another process."""
    return float(np.median(samples)) if len(samples) else math.nan


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """``median``; ``mean`` (pulled up by outliers, unlike the median); ``stddev``, the
    Bessel-corrected (n - 1) sample standard deviation; ``cv`` = stddev / mean (a fraction:
    differences smaller than about the CV are not resolved); ``p10`` / ``p90`` by linear
    interpolation between order statistics (Hyndman-Fan type 7, numpy's and pandas'
    default; only indicative below about 10 samples). stddev and cv are NaN below 2
    samples; everything is NaN for none."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return dict.fromkeys(STATISTICS, math.nan)
    mean = float(x.mean())
    stddev = float(x.std(ddof=1)) if x.size > 1 else math.nan
    return {"median": float(np.median(x)), "mean": mean, "stddev": stddev,
            "cv": stddev / mean if x.size > 1 else math.nan,
            "p10": float(np.percentile(x, 10)), "p90": float(np.percentile(x, 90))}


def median_ci(samples: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median: the order statistics
    ``x_(j)`` and ``x_(n+1-j)``, with ``j`` the largest index such that
    ``P(B <= j - 1) <= (1 - level) / 2`` for ``B ~ Binomial(n, 1/2)`` (the sign-test
    interval; coverage at least ``level`` for any continuous distribution of independent
    samples). NaN bounds when there are too few samples for that level (fewer than 6 at
    95%: even the extreme samples cover the median with less than 95%)."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = x.size
    tail = (1.0 - level) / 2
    j, cdf = 0, 0.0
    for k in range(n):
        cdf += math.comb(n, k) / 2.0 ** n  # P(B <= k)
        if cdf > tail:
            break
        j = k + 1
    if j == 0:
        return math.nan, math.nan
    return float(x[j - 1]), float(x[n - j])


def median_ci_rel(samples: Sequence[float], level: float = 0.95) -> float:
    """How far the :func:`median_ci` reaches from the median, relative to it: the larger
    of its two sides (the interval need not be symmetric); NaN when it is undefined."""
    lo, hi = median_ci(samples, level)
    mid = median(samples)
    if not (math.isfinite(lo) and math.isfinite(hi)) or mid <= 0:
        return math.nan
    return max(mid - lo, hi - mid) / mid
