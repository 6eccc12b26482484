"""The report's metric tables: mean ± std over seeds, the best mean per column marked."""

from __future__ import annotations

import math

import numpy as np

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


def test_best_mean_per_column_respects_direction_and_ties():
    best = table().best_variants()
    assert best["fid"] == {"wgan-gp"}
    assert best["modes"] == {"hinge"}


def test_cells_put_the_std_apart_and_dash_what_was_never_measured():
    rows = dict(zip(["wgan-gp", "hinge", "minimax"], table().cells()))
    assert rows["wgan-gp"][0] == ("13", f"± {np.std([10.0, 12.0, 17.0], ddof=1):.2g}", True)
    assert rows["hinge"][0] == ("30", "", False), "one finite seed: no std"
    assert rows["minimax"][0] == ("—", "", False)
