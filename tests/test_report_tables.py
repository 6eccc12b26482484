"""The report's metric tables: mean ± std and the 95 % interval over seeds, the best rank per column marked."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from analysis.report import MetricTable


def table() -> MetricTable:
    values = {
        "wgan-gp": {"fid": [10.0, 12.0, 17.0], "modes": [8, 7, 8]},
        "hinge": {"fid": [30.0, None, math.nan], "modes": [8, 8, 8]},  # a diverged seed is left out
        "minimax": {"fid": [None, None, None], "modes": [1, 1, 2]},
    }
    return MetricTable("Final checkpoint", values, ["fid", "modes"], {"fid": "min", "modes": "max"})


def test_mean_and_sample_std_over_finite_seeds():
    summary = table().summary()
    assert summary.at["wgan-gp", ("fid", "mean")] == np.mean([10.0, 12.0, 17.0])
    assert math.isclose(summary.at["wgan-gp", ("fid", "std")], np.std([10.0, 12.0, 17.0], ddof=1))
    assert summary.at["hinge", ("fid", "n")] == 1 and math.isnan(summary.at["hinge", ("fid", "std")])
    assert math.isnan(summary.at["minimax", ("fid", "mean")])


def test_the_best_rank_per_column_respects_direction_and_significance():
    best = table().best_variants()
    assert best["fid"] == {"wgan-gp"}, "hinge has one finite seed: not tested, so not sharing the rank"
    # hinge 8, 8, 8 against wgan-gp 8, 7, 8: Welch p = 0.42; minimax 1, 1, 2 is apart from both
    assert best["modes"] == {"hinge", "wgan-gp"}
    assert table().tested() and "Holm" in table().legend() and "not tested there" in table().legend(), \
        "three seeds each: tested, and the legend says why hinge's fid is left out"
    three = MetricTable("t", {"a": {"m": [1.0, 2.0, 3.0]}, "b": {"m": [7.0, 8.0, 9.0]}}, ["m"], {"m": "max"})
    assert three.tested() and three.best_variants() == {"m": {"b"}} and "not tested there" not in three.legend()
    two = MetricTable("t", {"a": {"m": [1.0, 2.0]}, "b": {"m": [7.0, 8.0, 9.0]}}, ["m"], {"m": "max"})
    assert not two.tested() and "no test is possible" in two.legend()


def test_cells_put_the_std_apart_and_dash_what_was_never_measured():
    rows = dict(zip(["wgan-gp", "hinge", "minimax"], table().cells()))
    low, high = stats.t.interval(0.95, 2, loc=13.0, scale=stats.sem([10.0, 12.0, 17.0]))
    assert rows["wgan-gp"][0] == ("13", f"± {np.std([10.0, 12.0, 17.0], ddof=1):.2g}", f"[{low:.3g}, {high:.3g}]", True)
    assert rows["hinge"][0] == ("30", "", "", False), "one finite seed: no std, no interval"
    assert rows["minimax"][0] == ("—", "", "", False)
