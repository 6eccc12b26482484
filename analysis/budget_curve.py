"""The expected best objective as a function of the search budget (Lucic et al. 2018, "Are GANs Created Equal?",
Sec. 5: the best FID "as a function of the budget", estimated from the random-search samples).

Given n objective values from independent random samples of one search space, the best of a budget of k trials
is the minimum (or maximum) of k of them. Its expectation is computed exactly, as the average over all
k-subsets of the n samples (drawn without replacement):

    E_k = Σ_{i=1}^{n} x_(i) · C(n − i, k − 1) / C(n, k)      (x_(1) ≤ … ≤ x_(n) for a minimum),

the U-statistic of the minimum of k draws, an unbiased estimate of the expected best of k fresh trials (x_(i)
is the minimum of a k-subset exactly when the subset holds it and k − 1 of the n − i larger values). Lucic et
al. estimate the same quantity by resampling; the exact average has no resampling noise.

Its uncertainty comes from having only n samples of the space, not from the choice of subsets (which the
average already removes): the band is a percentile bootstrap over the samples (Efron & Tibshirani 1993,
Ch. 13) -- the n values resampled with replacement ``resamples`` times, E_k recomputed on each, and the
(1 − level)/2 and (1 + level)/2 quantiles taken as observed values of E_k (no interpolation). Each E_k is a
weighted average of observed values, so the band never leaves their range (nor, hence, the metric's).

Diverged trials enter with the worst value they can have (``+inf`` for a minimum): a budget that only draws
diverged trials has no finite best, and its mean is ``inf``, as a reader of the curve should see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Bootstrap resamples of the band, and its level.
RESAMPLES = 2000
LEVEL = 0.95
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class BudgetPoint:
    """The best of ``k`` trials: its expectation over the k-subsets of the samples, and the bootstrap band."""

    k: int
    mean: float
    low: float
    high: float


def subset_best_weights(n: int, k: int) -> list[float]:
    """P(the i-th best of n values is the best of a random k-subset), i = 1 … n: C(n − i, k − 1) / C(n, k)."""
    if not 1 <= k <= n:
        raise ValueError(f"a budget k must be between 1 and the number of samples {n}, got {k}")
    total = math.comb(n, k)
    return [math.comb(n - i, k - 1) / total for i in range(1, n + 1)]


def _expected_best_rows(ordered: np.ndarray, k: int) -> np.ndarray:
    """E_k of every row of ``ordered`` (each sorted best first); a zero weight never meets an infinity, and the
    rounding of the weights never takes an average outside its row's values."""
    weights = np.asarray(subset_best_weights(ordered.shape[1], k))
    with np.errstate(invalid="ignore"):
        average = np.where(weights > 0, ordered * weights, 0.0).sum(axis=1)
    return np.clip(average, ordered.min(axis=1), ordered.max(axis=1))


def _best_first(values: np.ndarray, mode: str) -> np.ndarray:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    ordered = np.sort(values, axis=-1)
    return ordered if mode == "min" else ordered[..., ::-1]


def expected_best(values: Sequence[float], k: int, mode: str = "min") -> float:
    """E_k: the expected best of ``k`` of ``values`` (``mode`` "min" or "max"), over all k-subsets."""
    return float(_expected_best_rows(_best_first(np.asarray(values, dtype=float)[None, :], mode), k)[0])


def budget_curve(values: Sequence[float], mode: str = "min", resamples: int = RESAMPLES, level: float = LEVEL,
                 seed: int = BOOTSTRAP_SEED) -> list[BudgetPoint]:
    """E_k and its percentile-bootstrap band for every budget k = 1 … n (see the module docstring)."""
    observed = np.asarray(values, dtype=float)
    n = len(observed)
    rng = np.random.default_rng(seed)
    boot = _best_first(observed[rng.integers(n, size=(resamples, n))], mode)
    ordered = _best_first(observed[None, :], mode)
    points = []
    for k in range(1, n + 1):
        estimates = _expected_best_rows(boot, k)
        low, high = np.quantile(estimates, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
        points.append(BudgetPoint(k, float(_expected_best_rows(ordered, k)[0]), float(low), float(high)))
    return points
