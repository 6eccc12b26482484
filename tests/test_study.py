"""The equal-budget study: its sweep settings, the compare_gan space, the shared learning rate, and its report
section computed from a trials table (the numbers against analysis.budget_curve, the page in Chromium)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.budget_curve import budget_curve
from analysis.report import Report, render
from pipeline.config import ConfigError, parse
from pipeline.reporting.study_section import objective_values, study_section
from pipeline.tuning.space import ray_space, sample_values
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
    param_space = ray_space(tune.space, tune.variants, tune.search, tune.grid_points, tune.equal_budget)
    assert param_space["variant"] == {"grid_search": ["hinge", "wgan-gp"]}, "Tune repeats the grid num_samples times"
    narrowed = study_sweep(parse({"study": {"space": {"lr": ["loguniform", 1e-4, 1e-3]}}})).tune.space
    assert [d.name for d in narrowed] == ["lr"]


def test_one_learning_rate_sets_both_and_clashes_are_refused():
    config = parse({})
    variant, sections = sample_values(config, "digits", {"lr": 3e-4, "variant": "lsgan"})
    assert variant == "lsgan" and sections["train"] == {"lr_g": 3e-4, "lr_d": 3e-4}
    with pytest.raises(ConfigError, match=r"study.space.lr sets both learning rates; leave out lr_g and lr_d"):
        parse({"study": {"space": {"lr": ["loguniform", 1e-4, 1e-3], "lr_d": ["loguniform", 1e-4, 1e-3]}}})
    with pytest.raises(ConfigError, match=r"study.space.k_d_steps takes whole numbers"):
        parse({"study": {"space": {"k_d_steps": ["uniform", 1, 5]}}})
    with pytest.raises(ConfigError, match=r"tune.equal_budget .* needs tune.search random and tune.scheduler fifo"):
        _check_sweep(parse({"tune": {"equal_budget": True, "space": {"lr_g": ["loguniform", 1e-4, 1e-3]}}}), "tune")


def trials_table() -> pd.DataFrame:
    rows = []
    for variant, values, reasons in (
            ("lsgan", [30.0, 12.0, math.nan, 18.0], ["completed", "completed", "diverged", "mode-collapse"]),
            ("wgan-gp", [15.0, 14.0, 16.0, 40.0], ["completed"] * 4)):
        for i, (value, reason) in enumerate(zip(values, reasons)):
            rows.append({"trial_id": f"{variant}-{i}", "lr": 10 ** -(3 + i / 2), "beta1": 0.5, "k_d_steps": 1 + i,
                         "gp_lambda": 1.0 + i, "variant": variant, "stop_reason": reason, "steps": 600,
                         "best_fid_clf1k": value, "best_step": 400, "mlflow_run_id": f"run{variant}{i}"})
    return pd.DataFrame(rows)


SUMMARY = {"metric": "fid_clf1k", "mode": "min", "dataset": "digits", "steps": 600, "scheduler": "fifo",
           "space": [["lr", "loguniform"], ["beta1", "uniform"], ["k_d_steps", "choice"], ["gp_lambda", "loguniform"]],
           "trials": 8, "trial_steps": 4800, "wall_time_s": 95.0, "parent_run_id": "p" * 32,
           "variants": ["lsgan", "wgan-gp"], "seed": 0}


def test_the_section_shows_each_variants_budget_curve_and_winner(tmp_path):
    trials = trials_table()
    values = objective_values(trials, "fid_clf1k", "min")
    assert values["lsgan"] == [30.0, 12.0, math.inf, 18.0], "a trial that measured nothing counts as the worst"
    section = study_section(SUMMARY, trials, tmp_path)
    per_variant = {row[0]: row for row in section.tables[0].rows}
    wgan_curve = budget_curve([15.0, 14.0, 16.0, 40.0], "min")
    assert per_variant["wgan-gp"][5] == f"{wgan_curve[0].mean:.4g} ± {wgan_curve[0].std:.2g}"
    assert per_variant["wgan-gp"][6] == f"{wgan_curve[1].mean:.4g} ± {wgan_curve[1].std:.2g}"
    assert per_variant["lsgan"][3] == "1 / 1 / 0" and per_variant["lsgan"][5] == "∞ (k ≤ trials without a value)"
    assert per_variant["lsgan"][7] == "12" and per_variant["wgan-gp"][7] == "14"
    winners = {row[0]: row for row in section.best.rows}
    assert winners["lsgan"][4] == "—", "λ is shown only for a gradient-penalty variant"
    assert winners["wgan-gp"][4] == "2" and winners["wgan-gp"][5] == "14"
    assert all(figure.path.is_file() for figure in section.figures) and len(section.figures) == 2


def test_the_study_report_reads_on_a_laptop(tmp_path):
    section = study_section(SUMMARY, trials_table(), tmp_path / "figures")
    render(Report("ganlab study", [("seed", "0")], [], sweep=section), tmp_path / "report.md", tmp_path / "report.html")
    assert "Equal-budget study on digits" in (tmp_path / "report.md").read_text()
    with browser() as chromium:
        page, log = open_page(chromium, (tmp_path / "report.html").as_uri())
        widths = horizontal_overflow(page)
        shown = images(page)
        tables = page.locator("table").count()
    assert log.failed == [] and log.console_errors == [], log
    assert widths["page"][0] <= LAPTOP["width"]
    assert tables == 2 and len(shown) == 2 and all(i["complete"] and i["shown"] > 100 for i in shown), shown
