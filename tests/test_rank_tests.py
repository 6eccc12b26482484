"""The exact rank tests against scipy: ``permutation_test`` on the same statistics (ties and failures included),
and Mann–Whitney's and Wilcoxon's exact tests where there are no ties; failures rank worst; the smallest p
that a few seeds can reach."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.rank_tests import rank_sum_test, signed_rank_test, smallest_rank_sum_p


def _scipy_rank_sum_p(a, b) -> float:
    """scipy's exact permutation p-value of the rank-sum statistic on the pooled midranks (+inf ranks last)."""
    ranks = stats.rankdata(np.concatenate([a, b]))
    centre = len(a) * (len(a) + len(b) + 1) / 2
    result = stats.permutation_test((ranks[: len(a)], ranks[len(a):]), lambda x, y, axis: np.sum(x, axis=axis) - centre,
                                    permutation_type="independent", alternative="two-sided", n_resamples=np.inf)
    return float(result.pvalue)


@pytest.mark.parametrize("a, b", [
    ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]),
    ([8.0, 8.0, 8.0], [0.0, 0.0, 0.0]),
    ([4.0, 0.0, 0.0], [8.0, 8.0, 8.0]),
    ([1.0, math.inf, 2.0], [1.5, 2.5, 3.0]),
    ([math.inf, math.inf, 1.0], [math.inf, 2.0, 0.5, 0.7]),
    ([3.0, 3.0, 1.0, 2.0], [3.0, 2.0, 5.0]),
])
def test_the_rank_sum_test_is_scipys_exact_permutation_test(a, b):
    assert rank_sum_test(a, b).p == pytest.approx(_scipy_rank_sum_p(np.array(a), np.array(b)), rel=1e-12)


def test_without_ties_it_is_mann_whitneys_exact_test():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.normal(size=4), rng.normal(0.8, size=5)
        assert rank_sum_test(a, b).p == pytest.approx(stats.mannwhitneyu(a, b, method="exact").pvalue, rel=1e-12)


def test_a_failure_ranks_worst_and_constant_groups_are_not_certainties():
    """0/0/0 against 8/8/8 (lower is better here): as far apart as three values can be, p = 0.1, not 0; a NaN
    (nothing measured) is the worst, not dropped."""
    apart = rank_sum_test([0.0, 0.0, 0.0], [8.0, 8.0, 8.0])
    assert apart.p == pytest.approx(0.1) and apart.smallest_p == pytest.approx(0.1) == smallest_rank_sum_p(3, 3)
    assert rank_sum_test([1.0, 2.0, math.nan], [3.0, 4.0, 5.0]).statistic == 1 + 2 + 6
    assert rank_sum_test([5.0, 5.0], [5.0, 5.0]).p == 1.0


def _scipy_signed_rank_p(a, b) -> float:
    """scipy's exact sign-flip p-value of the signed-rank statistic (zero differences dropped)."""
    d = [(x > y) - (x < y) for x, y in zip(a, b) if x != y]
    magnitude = [math.inf if math.isinf(x) or math.isinf(y) else abs(x - y) for x, y in zip(a, b) if x != y]
    signed = np.array(d) * stats.rankdata(magnitude)
    result = stats.permutation_test((signed,), lambda s, axis: np.sum(np.where(s > 0, s, 0), axis=axis),
                                    permutation_type="samples", alternative="two-sided", n_resamples=np.inf)
    return float(result.pvalue)


@pytest.mark.parametrize("a, b", [
    ([1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.2, 2.0, 6.0, 5.5]),
    ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
    ([1.0, math.inf, 3.0, math.inf, 2.0], [2.0, 1.0, math.inf, math.inf, 2.5]),
    ([1.0, 1.0, 3.0, 2.0, 0.0, 4.0, 9.0], [2.0, 2.0, 1.0, 2.0, 1.0, 5.0, 1.0]),
])
def test_the_signed_rank_test_is_scipys_exact_sign_flip_test(a, b):
    assert signed_rank_test(a, b).p == pytest.approx(_scipy_signed_rank_p(a, b), rel=1e-12)


def test_without_ties_it_is_wilcoxons_exact_test():
    rng = np.random.default_rng(1)
    for _ in range(5):
        a = rng.normal(size=8)
        b = a + rng.normal(0.5, 1.0, size=8)
        assert signed_rank_test(a, b).p == pytest.approx(stats.wilcoxon(a, b, method="exact").pvalue, rel=1e-12)


def test_paired_failures_tie_and_a_failure_is_the_largest_difference():
    assert signed_rank_test([math.inf, math.inf], [math.inf, math.inf]).p == 1.0
    test = signed_rank_test([1.0, 2.0, 3.0, math.nan], [1.5, 2.5, 3.5, 1.0])
    assert test.statistic == 4 and test.smallest_p == pytest.approx(2 / 16)
    with pytest.raises(ValueError, match="as many on both sides"):
        signed_rank_test([1.0], [1.0, 2.0])
