"""The search space, the trial settings, the stop rules and the winner's params file (no Ray)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from models.family import DataSpec

from pipeline.config import ConfigError, load, parse
from pipeline.training.job import resolve_job
from pipeline.training.stop_rules import StopRules
from pipeline.tuning.results import best_params, best_params_text, best_trial
from pipeline.config.space import Dimension
from pipeline.tuning.space import grid_size, grid_values, trial_settings
from tests.conftest import PROJECT, tiny_config

POINTS = DataSpec("points", (2,))
SPACE = {"lr_g": ["loguniform", 1.0e-5, 1.0e-3], "k_d_steps": ["choice", [1, 5]], "beta1": ["uniform", 0.0, 0.9]}


def test_the_project_space_parses_and_round_trips():
    config = load(PROJECT / "params.yaml")
    names = [d.name for d in config.tune.space]
    assert names == ["lr_g", "lr_d", "k_d_steps", "batch_size", "beta1"]
    assert parse(config.to_dict()) == config


@pytest.mark.parametrize(
    "space, message",
    [
        ({"lr_gen": ["loguniform", 1e-5, 1e-3]}, r"unknown key tune\.space\.lr_gen; tunable: lr, lr_g, lr_d"),
        ({"k_d_steps": ["choice", []]}, r"tune\.space\.k_d_steps has an empty choice list"),
        ({"lr_g": ["loguniform", 1e-3, 1e-5]}, r"tune\.space\.lr_g has low 0\.001 >= high 1e-05"),
        ({"lr_g": ["loguniform", 0.0, 1e-3]}, r"tune\.space\.lr_g low = 0\.0 is out of range; expected > 0"),
        ({"beta1": ["uniform", 0.0, 1.0]}, r"tune\.space\.beta1 high = 1\.0 is out of range; expected >= 0\.0 and < 1\.0"),
        ({"k_d_steps": ["choice", [1, 0]]}, r"tune\.space\.k_d_steps\[1\] = 0 is out of range; expected >= 1"),
        ({"k_d_steps": ["uniform", 1, 5]}, r"tune\.space\.k_d_steps takes whole numbers"),
        ({"batch_size": ["choice", [64, 64]]}, r"lists a value twice"),
        ({"lr_g": ["normal", 0, 1]}, r"must be \[loguniform, low, high\]"),
        ({"lr_g": ["choice", 1e-4]}, r"must be \[choice, \[v1, v2, \.\.\.\]\]"),
        ({}, r"tune\.space must be a non-empty mapping"),
    ],
)
def test_bad_spaces_fail_before_any_trial(space, message):
    with pytest.raises(ConfigError, match=message):
        parse({"tune": {"space": space}})


@pytest.mark.parametrize(
    "tune, message",
    [
        ({"scheduler": "pbt", "search": "optuna"}, r"pbt changes hyperparameters inside a trial"),
        ({"scheduler": "pbt", "variants": ["hinge", "wgan-gp"]}, r"tune\.variants must name one variant"),
        ({"scheduler": "pbt", "perturbation_interval": 300}, r"perturbation_interval \(300\) must be a multiple"),
        ({"scheduler": "pbt", "space": {"beta1": ["uniform", 0.0, 0.5]}}, r"put at least one of them in tune\.space"),
        ({"eval_every": 5000}, r"tune\.eval_every \(5000\) exceeds tune\.steps"),
        ({"grace_period": 100}, r"tune\.grace_period \(100\) must lie between"),
        ({"variants": ["vanilla"]}, r"tune\.variants\[0\] = 'vanilla' is not allowed"),
        ({"workers_per_trial": 2, "cpus_per_trial": 1}, r"tune\.cpus_per_trial \(1\) must be a whole multiple"),
        ({"workers_per_trial": 2, "cpus_per_trial": 2, "scheduler": "pbt"}, r"use asha or fifo with them"),
    ],
)
def test_inconsistent_sweeps_fail_before_any_trial(tune, message):
    with pytest.raises(ConfigError, match=message):
        parse({"tune": {"space": SPACE, **tune}})


def test_a_sweep_on_a_dataset_the_pipeline_does_not_prepare_is_refused():
    with pytest.raises(ConfigError, match=r"data\.datasets must list every dataset the suites, tune and study use "
                                          r"\(dvc repro prepares only those\); add digits"):
        parse({"data": {"datasets": ["ring8"]}, "benchmark": {"datasets": ["ring8"]},
               "tune": {"space": SPACE, "dataset": "digits"}, "study": {"dataset": "ring8"}})


def test_grid_values_and_size():
    lr = Dimension("lr_g", "loguniform", 1e-5, 1e-3)
    assert grid_values(lr, 3) == pytest.approx([1e-5, 1e-4, 1e-3])
    assert grid_values(Dimension("beta1", "uniform", 0.0, 0.8), 3) == pytest.approx([0.0, 0.4, 0.8])
    assert grid_values(Dimension("k_d_steps", "choice", values=(1, 5)), 3) == [1, 5]
    assert grid_size((lr, Dimension("k_d_steps", "choice", values=(1, 5))), ("hinge", "lsgan"), 3) == 12


def test_ray_samples_a_loguniform_dimension_uniformly_in_log_space():
    """loguniform(1e-5, 1e-3): log10 of the draws is uniform on [-5, -3] (Kolmogorov–Smirnov), so their median is
    10^-4 -- a plain uniform draw on [1e-5, 1e-3] would have median ≈ 5e-4; uniform(0, 0.9) has median 0.45."""
    from scipy import stats

    from pipeline.tuning.space import ray_domain

    lr = ray_domain(Dimension("lr_g", "loguniform", 1e-5, 1e-3)).sample(size=2000, random_state=0)
    assert lr.min() >= 1e-5 and lr.max() <= 1e-3
    assert 0.8e-4 < np.median(lr) < 1.25e-4
    assert stats.kstest((np.log10(lr) + 5) / 2, "uniform").pvalue > 1e-3
    beta1 = ray_domain(Dimension("beta1", "uniform", 0.0, 0.9)).sample(size=2000, random_state=0)
    assert 0.4 < np.median(beta1) < 0.5


def test_a_sample_wins_over_dataset_overrides_and_keeps_the_variant_beta2():
    config = parse({"tune": {"space": SPACE, "steps": 1000, "eval_every": 100, "grace_period": 100},
                    "overrides": {"ring8": {"train": {"lr_g": 0.5, "batch_size": 256}}}})
    trial, variant = trial_settings(config, "ring8", {"lr_g": 3e-4, "k_d_steps": 2, "beta1": 0.1})
    assert variant == "wgan-gp"
    job = resolve_job(trial, "ring8", variant, 0, POINTS)
    assert job.settings.optimiser.lr_g == 3e-4 and job.settings.optimiser.k_d_steps == 2
    assert job.settings.optimiser.betas == (0.1, 0.9), "WGAN-GP's β2 = 0.9 (Gulrajani et al. 2017) is kept"
    assert job.train.batch_size == 256 and job.train.steps == 1000
    assert job.train.eval_every == job.train.checkpoint_every == 100 and 100 % job.train.log_every == 0


def test_stop_rules():
    rules = StopRules(after_step=100, d_fake_below=1e-3, grad_g_below=1e-4, coverage_at_most=1,
                      coverage_metric="modes1k", probabilistic=True)
    healthy = {"step": 200, "d_fake": 0.4, "grad_norm_g": 0.5, "modes1k": 6}
    spread = [{"step": 100, "modes1k": 4}, {"step": 150, "loss_d": 1.0}]
    assert rules.reason(healthy, spread) is None
    assert rules.reason({**healthy, "d_fake": 1e-5, "grad_norm_g": 1e-6}, spread) == "discriminator-wins"
    assert rules.reason({**healthy, "d_fake": 1e-5}, spread) is None, "G still gets gradients: not lost"
    assert rules.reason({**healthy, "modes1k": 1}, spread) == "mode-collapse"
    assert rules.reason({**healthy, "modes1k": 1}, [{"step": 100, "modes1k": 0}]) is None, "never spread out: not collapsed"
    assert rules.reason({**healthy, "step": 50, "modes1k": 0}, spread) is None, "too young to judge"
    wgan = StopRules(100, 1e-3, 1e-4, 1, "modes1k", probabilistic=False)
    assert wgan.reason({**healthy, "d_fake": -3.0, "grad_norm_g": 1e-6}, spread) is None, "a critic value is no probability"


def test_best_params_file_retrains_the_winner(tmp_path):
    config = parse({"tune": {"space": SPACE, "variants": ["hinge", "lsgan"], "steps": 1000, "eval_every": 100,
                             "grace_period": 100}, "benchmark": {"seeds": [0, 1]}})
    table = pd.DataFrame([
        {"trial_id": "a", "lr_g": 1e-4, "k_d_steps": 1, "beta1": 0.5, "variant": "hinge", "best_modes1k": 5.0, "best_step": 300},
        {"trial_id": "b", "lr_g": 2e-4, "k_d_steps": 5, "beta1": 0.2, "variant": "lsgan", "best_modes1k": 8.0, "best_step": 900},
        {"trial_id": "c", "lr_g": 1e3, "k_d_steps": 1, "beta1": 0.5, "variant": "hinge", "best_modes1k": math.nan, "best_step": None},
    ])
    winner = best_trial(table, "modes1k", "max")
    assert winner["trial_id"] == "b"
    names = ["lr_g", "k_d_steps", "beta1", "variant"]
    path = tmp_path / "best_params.yaml"
    path.write_text(best_params_text(best_params(config, winner, names), winner, "modes1k", "parent123"))
    assert "trial b" in path.read_text() and "best modes1k = 8 at step 900" in path.read_text()
    retrain = load(path)
    assert retrain.benchmark.datasets == ("ring8",) and retrain.benchmark.variants == ("lsgan",)
    assert retrain.benchmark.seeds == (0, 1)
    job = resolve_job(retrain, "ring8", "lsgan", 0, POINTS)
    assert (job.settings.optimiser.lr_g, job.settings.optimiser.k_d_steps, job.settings.optimiser.betas) == (2e-4, 5, (0.2, 0.999))
    assert job.train.steps == 1000
    assert best_trial(table.iloc[[2]], "modes1k", "max") is None


def test_a_trials_best_is_its_lowest_value_when_lower_is_better():
    """FID is lower-is-better: a trial measured 40, 12, 25 (steps 100-300) has best 12 at step 200, not its maximum,
    and the sweep's winner is the trial with the lowest best; for a higher-is-better metric, the highest."""
    from types import SimpleNamespace

    from pipeline.tuning.results import trial_row

    def result(trial_id, values):
        curve = pd.DataFrame({"step": [100, 200, 300], "fid_clf1k": values})
        return SimpleNamespace(metrics={"trial_id": trial_id, "step": 300, "fid_clf1k": values[-1]},
                               metrics_dataframe=curve, config={"lr_g": 1e-4}, error=None)

    rows = [trial_row(result("a", [40.0, 12.0, 25.0]), ["lr_g"], "fid_clf1k", "min", 300),
            trial_row(result("b", [30.0, 20.0, 15.0]), ["lr_g"], "fid_clf1k", "min", 300)]
    best_and_last = [(row["best_fid_clf1k"], row["best_step"], row["fid_clf1k"]) for row in rows]
    assert best_and_last == [(12.0, 200, 25.0), (15.0, 300, 15.0)]
    assert best_trial(pd.DataFrame(rows), "fid_clf1k", "min")["trial_id"] == "a"
    assert trial_row(result("a", [40.0, 12.0, 25.0]), ["lr_g"], "fid_clf1k", "max", 300)["best_step"] == 100


def test_pbt_adopt_takes_weights_and_moments_but_keeps_own_hyperparameters(prepared, tmp_path):
    from pipeline.training.checkpoint import CheckpointMismatchError, save_checkpoint
    from pipeline.data.shipping import DatasetFolders
    from pipeline.training.loop import TrainingLoop

    def training(lr: float, width: int = 16) -> TrainingLoop:
        config = tiny_config(train={"lr_g": lr, "lr_d": lr, "steps": 4, "eval_every": 4}, model={"width": width})
        return TrainingLoop(resolve_job(config, "ring8", "non-saturating", 0, POINTS),
                            DatasetFolders.of_project("ring8"))

    donor, trial = training(1e-3), training(5e-4)
    donor.run()
    save_checkpoint(tmp_path, donor.state_dict())
    assert trial.adopt(tmp_path) == 4 and trial.step == 4
    for mine, theirs in zip(trial.model.generator.parameters(), donor.model.generator.parameters()):
        assert torch.equal(mine, theirs)
    for mine, theirs in zip(trial.model.discriminator.parameters(), donor.model.discriminator.parameters()):
        assert torch.equal(mine, theirs)
    moments = next(iter(trial.model.opt_d.state.values()))["exp_avg"], next(iter(donor.model.opt_d.state.values()))["exp_avg"]
    assert torch.equal(*moments), "Adam's moments come with the weights"
    assert [g["lr"] for g in trial.model.opt_g.param_groups + trial.model.opt_d.param_groups] == [5e-4, 5e-4]
    with pytest.raises(CheckpointMismatchError, match="other networks"):
        training(5e-4, width=8).adopt(tmp_path)


def test_the_objective_is_one_the_trials_measure(prepared):
    from pipeline.tuning.sweep import objective

    assert objective(tiny_config(tune={"space": SPACE})) == ("modes_hq1k", "max")
    assert objective(tiny_config(tune={"space": SPACE, "dataset": "digits", "eval_samples": 500})) == ("fid_clf500", "min")
    assert objective(tiny_config(tune={"space": SPACE, "metric": "mode_kl1k"})) == ("mode_kl1k", "min")
    with pytest.raises(ConfigError, match=r"tune\.metric 'fid5k' is not measured on ring8 .*choose one of: modes_strict1k, modes1k, hq1k, mode_kl1k, modes_hq1k"):
        objective(tiny_config(tune={"space": SPACE, "metric": "fid5k"}))
