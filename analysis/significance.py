"""Which variants a results table can tell apart, with statistics that fit a handful of seeds and bounded or
infinite metrics.

* **Summary.** The median over seeds, with every seed's value shown beside it: with three seeds a mean ± a
  Student's interval leaves the metric's support (a mode count of "1.3 ± 2.3 [-4.4, 7.1]"), the values do not.
* **Test.** Wilcoxon's exact rank-sum test between two variants (:mod:`analysis.rank_tests`), in which a value
  that is not finite -- a diverged run, the infinite KL of an empty mode histogram, a metric never measured --
  ranks **worst** instead of being dropped.
* **Holm's step-down correction** (Holm 1979) over the m pairwise tests: with p_(1) ≤ … ≤ p_(m),
  p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) · p_(j)); a difference is significant when p̃ < α.
* **Shared rank.** The variant with the best median (of equal medians, the best mean), and every variant
  whose adjusted p against it is ≥ α
  (Lucic et al. 2018 show that most claimed differences between GAN losses vanish across seeds). An exact test
  on n_a and n_b values cannot give p below 2 / C(n_a + n_b, n_a) (0.1 for 3 against 3 seeds): when that
  bound is not below α no difference can be significant, and the ranking says so (``testable`` false).
* **Separated.** Descriptive, not a test: a variant every one of whose seeds is worse than every seed of the best.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from analysis.rank_tests import rank_sum_test, smallest_rank_sum_p

ALPHA = 0.05


def oriented(values: Sequence[float | None], mode: str) -> list[float]:
    """Values turned so that lower is better, anything not finite (None, NaN, ±inf) the worst (+inf)."""
    sign = 1.0 if mode == "min" else -1.0
    return [sign * float(v) if v is not None and math.isfinite(v) else math.inf for v in values]


def median(values: Sequence[float]) -> float:
    """The median (the mean of the two middle values for an even count); +inf among the middle ones gives +inf."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    low, high = ordered[middle - 1], ordered[middle]
    return high if math.isinf(high) else (low + high) / 2


def by_median(turned: Mapping[str, Sequence[float]]) -> list[str]:
    """Names from best to worst of values already :func:`oriented`: by median, equal medians by the mean."""
    keys = {name: (median(vals), sum(vals) / len(vals)) for name, vals in turned.items()}
    return sorted(keys, key=keys.__getitem__)


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
    """The best variant, those the tests cannot tell apart from it, and the adjusted p-values of every pair."""

    best: str | None
    shared: frozenset[str]            # the best and every variant not significantly different from it
    separated: frozenset[str]         # every seed worse than every seed of the best (descriptive)
    adjusted: dict[tuple[str, str], float]
    smallest_p: float                 # the smallest p any pair's exact test can reach
    testable: bool                    # smallest_p < α: a difference can be significant at all


def pairwise(values: Mapping[str, Sequence[float]]) -> dict[tuple[str, str], float]:
    """Holm-adjusted exact rank-sum p-values of every pair of variants (values oriented, lower better)."""
    return holm({(a, b): rank_sum_test(values[a], values[b]).p for a, b in itertools.combinations(values, 2)})


def rank(values: Mapping[str, Sequence[float | None]], mode: str, alpha: float = ALPHA) -> Ranking:
    """The best-median variant (``mode`` "min" or "max"; of equal medians the best mean), and those whose
    difference from it is not significant."""
    turned = {name: oriented(vals, mode) for name, vals in values.items() if vals}
    if not turned or all(math.isinf(v) for vals in turned.values() for v in vals):
        return Ranking(None, frozenset(), frozenset(), {}, 1.0, False)
    best = by_median(turned)[0]
    adjusted = pairwise(turned)
    smallest = min((smallest_rank_sum_p(len(turned[a]), len(turned[b]))
                    for a, b in itertools.combinations(turned, 2)), default=1.0)
    shared = {best} | {name for name in turned if name != best
                       and adjusted[tuple(sorted((name, best), key=list(turned).index))] >= alpha}
    separated = {name for name in turned if name != best and min(turned[name]) > max(turned[best])}
    return Ranking(best, frozenset(shared), frozenset(separated), adjusted, smallest, smallest < alpha)
