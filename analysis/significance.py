"""Significance across seeds: confidence intervals, Welch's t-test between variants, Holm's correction, and the
variants a results table cannot tell apart from the best.

* **Interval.** mean ± t_{0.975, n−1} · s / √n, s the sample standard deviation (ddof = 1): Student's 95 %
  interval for the mean over n seeds.
* **Welch's t-test** (Welch 1947), two-sided: t = (m_a − m_b) / √(s_a²/n_a + s_b²/n_b) with the
  Welch–Satterthwaite degrees of freedom ν = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)),
  p = 2 · P(T_ν > |t|). Two groups without spread are equal (p = 1) or different (p = 0).
* **Holm's step-down correction** (Holm 1979) over the m pairwise tests: with p_(1) ≤ … ≤ p_(m),
  p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) · p_(j)); a difference is significant when p̃ < α.
* **Shared rank.** Every variant whose adjusted p against the best-mean variant is ≥ α shares its rank
  (Lucic et al. 2018 show that most claimed differences between GAN losses vanish across seeds). With fewer
  than :data:`MIN_SEEDS` finite values in a variant no test is made for it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from scipy import stats

#: Fewer seeds than this: no interval or test is printed (a t-test on two values per group says little).
MIN_SEEDS = 3
ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    std: float
    low: float
    high: float


def interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Student's ``level`` interval for the mean of ``values`` (NaN bounds with fewer than two values)."""
    n = len(values)
    mean = sum(values) / n if n else math.nan
    if n < 2:
        return Interval(n, mean, math.nan, math.nan, math.nan)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return Interval(n, mean, std, mean - half, mean + half)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test between ``a`` and ``b`` (each at least two values)."""
    ia, ib = interval(a), interval(b)
    va, vb = ia.std**2 / ia.n, ib.std**2 / ib.n
    if va + vb == 0:
        return 1.0 if ia.mean == ib.mean else 0.0
    t = (ia.mean - ib.mean) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (ia.n - 1) + vb**2 / (ib.n - 1))
    return float(2 * stats.t.sf(abs(t), dof))


def holm(pvalues: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Holm-adjusted p-values of a family of tests."""
    ordered = sorted(pvalues.items(), key=lambda item: item[1])
    m, running, adjusted = len(ordered), 0.0, {}
    for j, (pair, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - j) * p))
        adjusted[pair] = running
    return adjusted


@dataclass(frozen=True)
class Ranking:
    """Which variants are indistinguishable from the best one, with the adjusted p-values of every pair tested."""

    best: str | None
    shared: frozenset[str]            # the best and every variant not significantly different from it
    untested: frozenset[str]          # fewer than MIN_SEEDS finite values
    adjusted: dict[tuple[str, str], float]


def pairwise(values: Mapping[str, Sequence[float]]) -> dict[tuple[str, str], float]:
    """Holm-adjusted Welch p-values of every pair of variants that have at least :data:`MIN_SEEDS` values."""
    tested = [name for name, vals in values.items() if len(vals) >= MIN_SEEDS]
    raw = {(a, b): welch_p(values[a], values[b]) for a, b in itertools.combinations(tested, 2)}
    return holm(raw)


def rank(values: Mapping[str, Sequence[float]], mode: str, alpha: float = ALPHA) -> Ranking:
    """The best-mean variant (``mode`` "min" or "max") and those whose difference from it is not significant."""
    finite = {name: [v for v in vals if math.isfinite(v)] for name, vals in values.items()}
    means = {name: sum(vals) / len(vals) for name, vals in finite.items() if vals}
    untested = frozenset(name for name, vals in finite.items() if len(vals) < MIN_SEEDS)
    if not means:
        return Ranking(None, frozenset(), untested, {})
    best = (min if mode == "min" else max)(means, key=means.__getitem__)
    adjusted = pairwise(finite)
    shared = {best} | {name for name in means if name not in untested and best not in untested and name != best
                       and adjusted[tuple(sorted((name, best), key=list(finite).index))] >= alpha}
    return Ranking(best, frozenset(shared), untested, adjusted)
