"""Budget curves and significance marks against independent computations: brute force over every k-subset,
scipy.stats, and Holm's correction by hand."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from scipy import stats

from analysis.budget_curve import budget_curve, expected_best, subset_best_weights
from analysis.significance import MIN_SEEDS, holm, interval, rank, welch_p

VALUES = [12.5, 3.0, 7.25, 3.0, 40.0, 9.5, 18.0]


@pytest.mark.parametrize("mode", ["min", "max"])
def test_the_expected_best_of_k_is_the_mean_best_over_every_k_subset(mode):
    best = min if mode == "min" else max
    for point in budget_curve(VALUES, mode):
        subsets = [best(s) for s in itertools.combinations(VALUES, point.k)]
        assert point.mean == pytest.approx(statistics.fmean(subsets), rel=1e-12)
    assert budget_curve(VALUES, mode)[-1].mean == best(VALUES) and budget_curve(VALUES, mode)[0].mean == pytest.approx(
        statistics.fmean(VALUES))


@pytest.mark.parametrize("mode", ["min", "max"])
def test_the_band_is_scipys_percentile_bootstrap_and_stays_in_the_values_range(mode):
    """The band of E_k is the percentile bootstrap over the samples: scipy.stats.bootstrap with the same
    statistic gives the same interval up to resampling noise; no bound leaves [min, max] of the values, and the
    band keeps its width at k = n (the samples are still only n)."""
    best = min if mode == "min" else max
    curve = budget_curve(VALUES, mode)
    for point in curve:
        assert min(VALUES) <= point.low <= point.mean <= point.high <= max(VALUES)
        reference = stats.bootstrap((np.array(VALUES),), lambda x, axis: np.apply_along_axis(
            lambda row: expected_best(row, point.k, mode), axis, x), method="percentile", n_resamples=2000,
            confidence_level=0.95, random_state=1, vectorized=True).confidence_interval
        spread = max(VALUES) - min(VALUES)
        assert abs(point.low - reference.low) < 0.1 * spread and abs(point.high - reference.high) < 0.1 * spread
    assert curve[-1].high - curve[-1].low > 0 and curve[-1].mean == best(VALUES)
    bounded = budget_curve([0.0, 0.0, 1.0, 1.0, 0.5], "max")
    assert all(0.0 <= p.low <= p.high <= 1.0 for p in bounded), "a share's band stays inside [0, 1]"


def test_subset_weights_sum_to_one_and_a_diverged_trial_shows():
    for n, k in ((7, 1), (7, 3), (10, 10)):
        assert sum(subset_best_weights(n, k)) == pytest.approx(1.0)
    assert expected_best([1.0, 2.0, math.inf], 1) == math.inf, "one draw may be the diverged trial"
    assert expected_best([1.0, 2.0, math.inf], 3) == 1.0, "three draws always hold the best"
    curve = budget_curve([1.0, 2.0, math.inf], "min")
    assert curve[0].high == math.inf and math.isfinite(curve[2].low)
    with pytest.raises(ValueError, match="between 1 and the number of samples 3"):
        expected_best([1.0, 2.0, 3.0], 4)


def test_interval_and_welch_agree_with_scipy():
    a, b = [0.61, 0.72, 0.55, 0.68], [0.41, 0.52, 0.47]
    found = interval(a)
    low, high = stats.t.interval(0.95, len(a) - 1, loc=statistics.fmean(a), scale=stats.sem(a))
    assert (found.low, found.high) == pytest.approx((low, high), rel=1e-12)
    assert found.std == pytest.approx(statistics.stdev(a))
    assert welch_p(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-10)
    assert welch_p([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]) == 1.0 and welch_p([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]) == 0.0


def test_holm_against_a_hand_computation():
    raw = {("a", "b"): 0.01, ("a", "c"): 0.04, ("b", "c"): 0.03, ("a", "d"): 0.005}
    # sorted: 0.005, 0.01, 0.03, 0.04 × (4, 3, 2, 1) = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert holm(raw) == pytest.approx({("a", "d"): 0.02, ("a", "b"): 0.03, ("b", "c"): 0.06, ("a", "c"): 0.06})


def test_clearly_different_groups_are_separated_and_identical_ones_share_the_rank():
    values = {"wgan-gp": [7.0, 8.0, 7.5], "hinge": [7.2, 7.9, 7.4], "lsgan": [1.0, 1.1, 0.9]}
    ranking = rank(values, "max")
    assert ranking.best == "wgan-gp" and ranking.shared == {"wgan-gp", "hinge"}
    assert ranking.adjusted[("wgan-gp", "lsgan")] < 0.05
    assert rank(values, "min").best == "lsgan" and rank(values, "min").shared == {"lsgan"}


def test_fewer_than_three_seeds_make_no_test():
    ranking = rank({"a": [1.0, 2.0], "b": [5.0, 6.0]}, "max")
    assert MIN_SEEDS == 3 and ranking.untested == {"a", "b"} and ranking.adjusted == {} and ranking.shared == {"b"}
    assert math.isnan(interval([1.0]).low)
