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

__all__ = ["STATISTICS", "summarize", "median"]

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
