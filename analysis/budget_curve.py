"""The expected best objective as a function of the search budget (Lucic et al. 2018, "Are GANs Created Equal?",
Sec. 5: the distribution of the best FID "as a function of the budget", estimated from the random-search samples).

Given n objective values from independent random samples of one search space, the best of a budget of k trials
is the minimum (or maximum) of k of them. Its expectation over the k-subsets of the n samples,

    E_k = Σ_{i=1}^{n} x_(i) · C(n − i, k − 1) / C(n, k)      (x_(1) ≤ … ≤ x_(n) for a minimum),

is the U-statistic of the minimum of k draws: the unbiased estimator of the expected best of k fresh trials
(x_(i) is the minimum of a k-subset exactly when the subset holds it and k − 1 of the n − i larger values).
The same weights give the variance of the best, hence the spread (the standard deviation of the best over the k-subsets),
the band Lucic et al. plot around the curve. Diverged trials enter with the worst value they can have
(``+inf`` for a minimum): a budget that only draws diverged trials has no finite best, and its mean is
``inf``, as a reader of the curve should see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class BudgetPoint:
    """The best of ``k`` trials: its expectation and standard deviation over the k-subsets of the samples."""

    k: int
    mean: float
    std: float


def subset_best_weights(n: int, k: int) -> list[float]:
    """P(the i-th best of n values is the best of a random k-subset), i = 1 … n: C(n − i, k − 1) / C(n, k)."""
    if not 1 <= k <= n:
        raise ValueError(f"a budget k must be between 1 and the number of samples {n}, got {k}")
    total = math.comb(n, k)
    return [math.comb(n - i, k - 1) / total for i in range(1, n + 1)]


def expected_best(values: Sequence[float], k: int, mode: str = "min") -> BudgetPoint:
    """E and std of the best of ``k`` of ``values`` (``mode`` "min" or "max"), over all k-subsets."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    ordered = sorted(values, reverse=mode == "max")
    weights = subset_best_weights(len(ordered), k)
    pairs = [(w, x) for w, x in zip(weights, ordered) if w > 0]
    if any(math.isinf(x) for _, x in pairs):
        worst = math.inf if mode == "min" else -math.inf
        return BudgetPoint(k, worst, math.nan)
    mean = sum(w * x for w, x in pairs)
    return BudgetPoint(k, mean, math.sqrt(sum(w * (x - mean) ** 2 for w, x in pairs)))


def budget_curve(values: Sequence[float], mode: str = "min") -> list[BudgetPoint]:
    """:func:`expected_best` for every budget k = 1 … n."""
    return [expected_best(values, k, mode) for k in range(1, len(values) + 1)]
