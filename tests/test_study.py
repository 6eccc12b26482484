"""The equal-budget study: its sweep settings, the compare_gan space, the shared learning rate, and its report
section computed from a trials table (the numbers against analysis.budget_curve, the page in Chromium)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.budget_curve import budget_curve
from analysis.rank_tests import signed_rank_test
from analysis.report import Report, render
from pipeline.common.files import CorruptFileError
from pipeline.config import ConfigError, parse
from pipeline.reporting.study_section import objective_values, study_section
from pipeline.tuning.space import ray_space, sample_values, shared_points, sweep_trials
from pipeline.tuning.study import COMPARE_GAN_V1_SPACE, study_sweep
from pipeline.tuning.sweep import _check_sweep
from tests.browser import LAPTOP, browser, horizontal_overflow, images, open_page


def test_the_study_is_a_random_fifo_sweep_with_every_variant_on_the_same_space():
    config = study_sweep(parse({"study": {"variants": ["hinge", "wgan-gp"], "num_samples": 5, "steps": 300}}))
    tune = config.tune
    assert (tune.search, tune.scheduler, tune.equal_budget) == ("random", "fifo", True)
    assert (tune.variants, tune.num_samples, tune.steps) == (("hinge", "wgan-gp"), 5, 300)
    assert tune.space == COMPARE_GAN_V1_SPACE
    space = {d.name: d for d in COMPARE_GAN_V1_SPACE}  # Lucic et al. 2018 / compare_gan v1
    assert (space["lr"].low, space["lr"].high, space["beta1"].low, space["beta1"].high) == (1e-5, 1e-2, 0.0, 1.0)
    assert space["k_d_steps"].values == (1, 2, 3, 4, 5) and (space["gp_lambda"].low, space["gp_lambda"].high) == (0.1, 100.0)
    narrowed = study_sweep(parse({"study": {"space": {"lr": ["loguniform", 1e-4, 1e-3]}}})).tune.space
    assert [d.name for d in narrowed] == ["lr"]


def test_every_variant_trains_the_same_points_from_the_same_seeds():
    """Ray Tune resolves the study's space into trials exactly as it does for a sweep (its variant generator):
    each point index has the same settings for every variant and seed, and the points differ."""
    from ray.tune.search.variant_generator import generate_variants

    config = study_sweep(parse({"study": {"variants": ["hinge", "wgan-gp", "lsgan"], "num_samples": 4,
                                          "seeds_per_sample": 2, "seed": 3}}))
    trials = [trial for _, trial in generate_variants(ray_space(config.tune), random_state=0)]
    assert len(trials) == sweep_trials(config.tune) == 4 * 3 * 2
    assert sorted((t["sample"], t["variant"], t["seed"]) for t in trials) == sorted(
        (i, v, s) for i in range(4) for v in ("hinge", "wgan-gp", "lsgan") for s in (3, 4)), "each combination once"
    names = [d.name for d in COMPARE_GAN_V1_SPACE]
    settings = {}
    for trial in trials:
        assert settings.setdefault(trial["sample"], [trial[n] for n in names]) == [trial[n] for n in names]
    assert len({tuple(point) for point in settings.values()}) == 4
    assert [settings[i] for i in range(4)] == [[p[n] for n in names] for p in shared_points(COMPARE_GAN_V1_SPACE, 4, 3)]
    again = [trial for _, trial in generate_variants(ray_space(config.tune), random_state=99)]
    assert sorted(map(str, again)) == sorted(map(str, trials)), "the points come from study.seed, not Tune's state"
    with pytest.raises(ConfigError, match=r"tune.seeds_per_sample 2 needs tune.equal_budget: true"):
        _check_sweep(parse({"tune": {"seeds_per_sample": 2, "space": {"lr_g": ["loguniform", 1e-4, 1e-3]}}}), "tune")


def test_shared_points_follow_each_dimensions_distribution():
    """Log-uniform: log10(lr) uniform on [-5, -2]; uniform; choices equally likely (Kolmogorov–Smirnov / χ²)."""
    from scipy import stats

    points = shared_points(COMPARE_GAN_V1_SPACE, 4000, 0)
    lr = np.log10([p["lr"] for p in points])
    assert lr.min() >= -5 and lr.max() <= -2
    assert stats.kstest((lr + 5) / 3, "uniform").pvalue > 1e-3
    assert stats.kstest([p["beta1"] for p in points], "uniform").pvalue > 1e-3
    counts = np.bincount([p["k_d_steps"] for p in points], minlength=6)[1:]
    assert stats.chisquare(counts).pvalue > 1e-3 and all(isinstance(p["k_d_steps"], int) for p in points)


def test_one_learning_rate_sets_both_and_clashes_are_refused():
    config = parse({})
    variant, sections = sample_values(config, "digits", {"lr": 3e-4, "variant": "lsgan"})
    assert variant == "lsgan" and sections["train"] == {"lr_g": 3e-4, "lr_d": 3e-4}
    with pytest.raises(ConfigError, match=r"study\.space\.lr and study\.space\.lr_d both set train\.lr_d; keep one of them"):
        parse({"study": {"space": {"lr": ["loguniform", 1e-4, 1e-3], "lr_d": ["loguniform", 1e-4, 1e-3]}}})
    with pytest.raises(ConfigError, match=r"study.space.k_d_steps takes whole numbers"):
        parse({"study": {"space": {"k_d_steps": ["uniform", 1, 5]}}})
    with pytest.raises(ConfigError, match=r"tune.equal_budget .* needs tune.search random and tune.scheduler fifo"):
        _check_sweep(parse({"tune": {"equal_budget": True, "space": {"lr_g": ["loguniform", 1e-4, 1e-3]}}}), "tune")


def trials_table() -> pd.DataFrame:
    """Two variants on the same four points, two seeds each (wgan-gp's seeds agree; lsgan's point 2 has one seed
    without a value)."""
    rows = []
    for variant, values, reasons in (
            ("lsgan", [[30.0, 32.0], [12.0, 10.0], [math.nan, 20.0], [18.0, 18.0]],
             [["completed"] * 2, ["completed"] * 2, ["diverged", "completed"], ["mode-collapse", "completed"]]),
            ("wgan-gp", [[15.0, 15.0], [14.0, 14.0], [16.0, 16.0], [40.0, 40.0]], [["completed"] * 2] * 4)):
        for i, (pair, why) in enumerate(zip(values, reasons)):
            for seed, (value, reason) in enumerate(zip(pair, why)):
                rows.append({"trial_id": f"{variant}-{i}-{seed}", "sample": i, "seed": seed, "lr": 10 ** -(3 + i / 2),
                             "beta1": 0.5, "k_d_steps": 1 + i, "gp_lambda": 1.0 + i, "variant": variant,
                             "stop_reason": reason, "steps": 600, "best_fid_clf1k": value, "best_step": 400,
                             "time_s": 10.0, "mlflow_run_id": f"run{variant}{i}{seed}"})
    return pd.DataFrame(rows)


SUMMARY = {"metric": "fid_clf1k", "mode": "min", "dataset": "digits", "steps": 600, "scheduler": "fifo",
           "space": [["lr", "loguniform"], ["beta1", "uniform"], ["k_d_steps", "choice"], ["gp_lambda", "loguniform"]],
           "trials": 16, "trial_steps": 9600, "wall_time_s": 95.0, "parent_run_id": "p" * 32,
           "variants": ["lsgan", "wgan-gp"], "seed": 0}


def test_the_section_shows_each_variants_budget_curve_compute_comparison_and_winner(tmp_path):
    trials = trials_table()
    values = objective_values(trials, "fid_clf1k", "min")
    assert values["lsgan"] == [31.0, 11.0, math.inf, 18.0], "a point's seeds are averaged; a missing value is the worst"
    assert values["wgan-gp"] == [15.0, 14.0, 16.0, 40.0]
    section = study_section(SUMMARY, trials, tmp_path)
    per_variant = {row[0]: row for row in section.tables[0].rows}
    wgan_curve = budget_curve([15.0, 14.0, 16.0, 40.0], "min")
    for column, point in ((5, wgan_curve[0]), (6, wgan_curve[1]), (7, wgan_curve[3])):
        assert per_variant["wgan-gp"][column] == f"{point.mean:.4g} [{point.low:.4g}, {point.high:.4g}]"
    assert per_variant["lsgan"][3] == "1 / 1 / 0" and per_variant["lsgan"][5] == "∞ (k ≤ points without a value)"
    assert per_variant["lsgan"][7].startswith("11 [") and per_variant["wgan-gp"][7].startswith("14 [")
    assert per_variant["wgan-gp"][8:11] == ["4,800", f"{600 * 2 * (1 + 2 + 3 + 4):,}", "1 min 20 s"], "G / D steps, time"
    (pair,) = section.tables[1].rows
    assert pair[1] == "2 / 2", "lsgan is better on points 1 and 3, wgan-gp on 0 and 2"
    assert float(pair[2]) == pytest.approx(signed_rank_test([31.0, 11.0, math.inf, 18.0], [15.0, 14.0, 16.0, 40.0]).p)
    facts = dict(section.facts)
    assert facts["finding"].startswith("no pair of variants differs"), "4 points cannot reach p < 0.05 (2/16)"
    assert "2 seed(s)" in facts["protocol"] and facts["restarts"].startswith("median |difference| between the seeds")
    rho = {row[0]: row for row in section.tables[2].rows}
    objective = trials["best_fid_clf1k"].fillna(math.inf)
    assert float(rho["lr"][1]) == pytest.approx(stats.spearmanr(trials["lr"], objective).statistic, abs=0.005)
    assert rho["beta1"][1:] == ["—", "constant"]
    winners = {row[0]: row for row in section.tables[3].rows}
    assert winners["lsgan"][4] == "—", "λ is shown only for a gradient-penalty variant"
    assert winners["wgan-gp"][4] == "2" and winners["wgan-gp"][5] == "14"
    assert all(figure.path.is_file() for figure in section.figures) and len(section.figures) == 2


def test_when_higher_is_better_an_unmeasured_trial_is_the_worst_and_the_budget_curve_stays_finite():
    """With mode "max" (e.g. modes covered) a seed that measured nothing counts as -inf, the worst value. In
    E_k = Σᵢ x₍ᵢ₎ C(n - i, k - 1) / C(n, k) (Lucic et al. 2018, Sec. 5; x sorted best first) the -inf comes last, with
    weight C(0, k - 1) = 0 for every k ≥ 2: by hand, lsgan's points (31, 11, -inf, 18) give E_1 = -inf,
    E_2 = (3·31 + 2·18 + 1·11) / 6, E_3 = (3·31 + 18) / 4 and E_4 = max = 31."""
    trials = trials_table().rename(columns={"best_fid_clf1k": "best_modes1k"})
    values = objective_values(trials, "modes1k", "max")
    assert values["lsgan"] == [31.0, 11.0, -math.inf, 18.0]
    means = [point.mean for point in budget_curve(values["lsgan"], "max")]
    assert means[0] == -math.inf
    assert means[1:] == pytest.approx([(3 * 31 + 2 * 18 + 11) / 6, (3 * 31 + 18) / 4, 31.0])


def test_trials_written_before_the_points_were_shared_are_refused_with_the_fix():
    with pytest.raises(CorruptFileError, match=r"no `sample` column .* `dvc repro study`"):
        objective_values(trials_table().drop(columns=["sample"]), "fid_clf1k", "min")


def test_the_study_report_reads_on_a_laptop(tmp_path):
    section = study_section(SUMMARY, trials_table(), tmp_path / "figures")
    render(Report("ganlab study", [("seed", "0")], [], sweeps=[section]), tmp_path / "report.md", tmp_path / "report.html")
    assert "Equal-budget study on digits" in (tmp_path / "report.md").read_text()
    with browser() as chromium:
        page, log = open_page(chromium, (tmp_path / "report.html").as_uri())
        widths = horizontal_overflow(page)
        shown = images(page)
        tables = page.locator("table").count()
    assert log.failed == [] and log.console_errors == [], log
    assert widths["page"][0] <= LAPTOP["width"]
    assert tables == 4 and len(shown) == 2 and all(i["complete"] and i["shown"] > 100 for i in shown), shown
