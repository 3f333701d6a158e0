"""pybench.results.stats: the distribution-free confidence interval of the median."""
import math

import numpy as np
import pytest

from pybench.results import stats


@pytest.mark.parametrize("n, ranks", [(6, (1, 6)), (10, (2, 9)), (20, (6, 15)), (30, (10, 21))])
def test_median_ci_is_the_sign_test_interval(n, ranks):
    # The order statistics of the standard tables (e.g. Conover, Practical Nonparametric
    # Statistics, table A3) for a 95% interval.
    x = np.random.default_rng(n).permutation(np.arange(1.0, n + 1))
    assert stats.median_ci(x) == (float(ranks[0]), float(ranks[1]))


def test_median_ci_undefined_below_six_samples():
    assert all(math.isnan(v) for v in stats.median_ci([1.0, 2, 3, 4, 5]))
    assert math.isnan(stats.median_ci_rel([1.0, 2, 3, 4, 5]))


def test_median_ci_covers_the_median():
    rng = np.random.default_rng(0)
    hits = sum(lo <= 1.0 <= hi for lo, hi in
               (stats.median_ci(rng.lognormal(0.0, 0.2, 15)) for _ in range(2000)))
    assert hits / 2000 >= 0.94  # at least 95% in theory (96.5% at n = 15)


def test_median_ci_rel_is_the_wider_side():
    x = [10.0, 10, 10, 10, 10, 13]
    assert stats.median_ci(x) == (10.0, 13.0)
    assert stats.median_ci_rel(x) == pytest.approx(0.3)
