"""The 2-D mixtures' mean ± standard deviation over seeds and best seeds (pipeline/reporting/seed_spread.py), against
scipy and by hand."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from pipeline.reporting.seed_spread import best_seeds, mean_and_spread, spread_table


def test_the_spread_is_the_mean_and_the_sample_standard_deviation():
    values = [8, 7, 5]
    assert mean_and_spread(values) == f"{np.mean(values):.4g} ± {stats.tstd(values):.2g}" == "6.667 ± 1.5"
    assert mean_and_spread([0.25]) == "0.25"  # one seed: no spread
    assert mean_and_spread([]) == "—" and mean_and_spread([None, None]) == "—"


def test_values_that_are_not_finite_are_counted_beside_the_finite_ones():
    assert mean_and_spread([1.0, math.inf, 3.0]) == f"2 ± {stats.tstd([1.0, 3.0]):.2g} (1 of 3 not finite)"
    assert mean_and_spread([math.inf, math.nan]) == "not finite (2 of 2)"
    assert mean_and_spread([2.0, None, math.inf]) == "2 (1 of 2 not finite)"


def test_the_table_has_a_row_per_variant_and_the_seed_count():
    table = spread_table({"a": {"modes": [8, 6, 7], "kl": [0.1, math.inf, 0.3]}, "b": {"modes": [1]}}, ["modes", "kl"])
    assert table.header == ["variant", "modes", "kl", "seeds"]
    assert table.rows == [["a", "7 ± 1", "0.2 ± 0.14 (1 of 3 not finite)", "3"], ["b", "1", "—", "1"]]


def test_the_best_seed_is_the_best_final_value_and_the_first_on_ties():
    results = {("a", 3): {"final": {"m": 5.0}}, ("a", 4): {"final": {"m": 7.0}}, ("a", 5): {"final": {"m": 7.0}},
               ("b", 3): {"final": {"m": math.inf}}, ("b", 4): {"final": {"m": None}}, ("b", 5): {"final": {"m": 2.0}}}
    assert best_seeds(results, "m", "max") == {"a": (4, 7.0), "b": (5, 2.0)}
    assert best_seeds(results, "m", "min") == {"a": (3, 5.0), "b": (5, 2.0)}
