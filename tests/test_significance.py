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
from analysis.significance import holm, median, oriented, rank

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


def test_the_median_and_the_orientation_rank_non_finite_values_worst():
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert median([1.0, math.inf, math.inf]) == math.inf and median([1.0, 2.0, math.inf, math.inf]) == math.inf
    assert oriented([2.0, None, math.nan, -math.inf], "max") == [-2.0, math.inf, math.inf, math.inf]
    assert oriented([2.0, math.inf], "min") == [2.0, math.inf]


def test_holm_against_a_hand_computation():
    raw = {("a", "b"): 0.01, ("a", "c"): 0.04, ("b", "c"): 0.03, ("a", "d"): 0.005}
    # sorted: 0.005, 0.01, 0.03, 0.04 × (4, 3, 2, 1) = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert holm(raw) == pytest.approx({("a", "d"): 0.02, ("a", "b"): 0.03, ("b", "c"): 0.06, ("a", "c"): 0.06})


def test_clearly_different_groups_are_separated_and_identical_ones_share_the_rank():
    """Five seeds each: the exact test can reach α; the Holm-adjusted p-values are scipy's exact Mann–Whitney
    p-values corrected by hand."""
    values = {"wgan-gp": [7.0, 8.0, 7.5, 7.7, 7.9], "hinge": [7.2, 7.95, 7.4, 7.6, 7.8], "lsgan": [1.0, 1.1, 0.9, 1.2, 0.8]}
    ranking = rank(values, "max")
    assert ranking.best == "wgan-gp" and ranking.shared == {"wgan-gp", "hinge"} and ranking.testable
    raw = {pair: stats.mannwhitneyu(values[pair[0]], values[pair[1]], method="exact").pvalue
           for pair in (("wgan-gp", "hinge"), ("wgan-gp", "lsgan"), ("hinge", "lsgan"))}
    assert ranking.adjusted == pytest.approx(holm(raw), rel=1e-12)
    assert ranking.adjusted[("wgan-gp", "lsgan")] < 0.05 and ranking.separated == {"lsgan"}
    assert rank(values, "min").best == "lsgan" and rank(values, "min").shared == {"lsgan"}


def test_a_diverged_seed_ranks_worst_instead_of_vanishing():
    """Dropping hinge's three diverged seeds would leave it 9, 9 -- the best; ranked worst they make it the worst."""
    values = {"hinge": [9.0, 9.0, math.nan, math.nan, math.nan], "lsgan": [8.0, 8.5, 8.2, 8.1, 8.3]}
    assert rank(values, "max").best == "lsgan" and rank({"hinge": values["hinge"][:2], "lsgan": values["lsgan"]},
                                                       "max").best == "hinge"
    assert rank({"a": [None, None], "b": [math.nan]}, "min").best is None
