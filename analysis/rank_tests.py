"""Exact rank tests for the handful of values a GAN comparison has (a few seeds, a few shared hyperparameter
samples), in which a run that diverged or measured nothing counts as the **worst** value instead of being dropped.

Values are oriented so that lower is better; a failed run enters as ``+inf`` (it ranks after every finite
value; two failures tie). Ranks are midranks (ties share the mean of their positions), so the statistics need
only an order, never a difference of infinities.

* :func:`rank_sum_test` -- two independent groups (e.g. the seeds of two variants): Wilcoxon's rank-sum
  statistic W = Σ ranks of group a in the pooled sample (Wilcoxon 1945; Mann & Whitney 1947), its exact
  permutation distribution under H0 by enumerating all C(n_a + n_b, n_a) ways to split the pooled midranks.
  With 3 vs 3 values the smallest reachable p is 2 / C(6, 3) = 0.1: three seeds cannot separate two variants
  at α = 0.05.
* :func:`signed_rank_test` -- paired values (two variants on the same shared samples): Wilcoxon's
  signed-rank statistic T⁺ = Σ ranks of |d_i| over d_i > 0, d_i = a_i − b_i (a pair of failures, or equal
  values, is a zero difference and is dropped: Wilcoxon's zero method; a failure against a finite value is a
  difference larger than any finite one). Exact distribution by enumerating the 2^m sign flips of the m
  non-zero ranks.

Two-sided p-values are twice the smaller one-sided one, at most 1: p = min(1, 2 min(P(S ≥ s), P(S ≤ s))) for
the statistic S and its observed value s (scipy's convention; with midranks the null distribution need not be
symmetric, so this differs from P(|S − E S| ≥ |s − E S|)).

Both agree with ``scipy.stats.permutation_test`` on the same statistics and, without ties or failures, with
``scipy.stats.mannwhitneyu(method="exact")`` and ``scipy.stats.wilcoxon(method="exact")`` (tests/test_rank_tests.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

from scipy import stats

#: Above this many paired differences the sign flips are too many to enumerate.
MAX_EXACT_PAIRS = 20
#: Above this many splits of the pooled sample the enumeration is too long.
MAX_EXACT_SPLITS = 200_000


@dataclass(frozen=True)
class RankTest:
    """A test's statistic, its exact two-sided p-value, and the smallest p-value its sample sizes can reach."""

    statistic: float
    p: float
    smallest_p: float


def _oriented(values: Sequence[float]) -> list[float]:
    """NaN (nothing measured) → +inf: the worst value."""
    return [math.inf if math.isnan(v) else float(v) for v in values]


def smallest_rank_sum_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value :func:`rank_sum_test` can give for groups of n_a and n_b values."""
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


def rank_sum_test(a: Sequence[float], b: Sequence[float]) -> RankTest:
    """Exact two-sided rank-sum test of ``a`` against ``b`` (lower is better; NaN and +inf are the worst)."""
    a, b = _oriented(a), _oriented(b)
    if not a or not b:
        raise ValueError("the rank-sum test needs at least one value in each group")
    n = len(a) + len(b)
    if math.comb(n, len(a)) > MAX_EXACT_SPLITS:
        raise ValueError(f"{math.comb(n, len(a))} splits of {n} values are too many to enumerate")
    ranks = stats.rankdata(a + b)
    observed = float(sum(ranks[: len(a)]))
    null = [float(sum(ranks[i] for i in chosen)) for chosen in itertools.combinations(range(n), len(a))]
    p = _two_sided(null, observed)
    return RankTest(observed, p, smallest_rank_sum_p(len(a), len(b)))


def signed_rank_test(a: Sequence[float], b: Sequence[float]) -> RankTest:
    """Exact two-sided signed-rank test of paired ``a`` and ``b`` (lower is better; NaN and +inf the worst)."""
    a, b = _oriented(a), _oriented(b)
    if len(a) != len(b):
        raise ValueError(f"paired values must be as many on both sides, got {len(a)} and {len(b)}")
    signs, magnitudes = [], []
    for x, y in zip(a, b):
        if x == y:  # equal values, or two failures
            continue
        signs.append(1 if x > y else -1)
        magnitudes.append(math.inf if math.isinf(x) or math.isinf(y) else abs(x - y))
    m = len(signs)
    if m == 0:
        return RankTest(0.0, 1.0, 1.0)
    if m > MAX_EXACT_PAIRS:
        raise ValueError(f"{m} non-zero differences: 2^{m} sign flips are too many to enumerate")
    ranks = stats.rankdata(magnitudes)
    observed = float(sum(r for r, s in zip(ranks, signs) if s > 0))
    null = [float(sum(r for r, keep in zip(ranks, kept) if keep))
            for kept in itertools.product((False, True), repeat=m)]
    return RankTest(observed, _two_sided(null, observed), min(1.0, 2 / 2**m))


def _two_sided(null: Sequence[float], observed: float) -> float:
    """min(1, 2 min(P(S ≥ s), P(S ≤ s))) over the equally likely values ``null`` of the statistic."""
    tolerance = 1e-9 * max(1.0, abs(observed))
    upper = sum(v >= observed - tolerance for v in null) / len(null)
    lower = sum(v <= observed + tolerance for v in null) / len(null)
    return min(1.0, 2 * min(upper, lower))
