"""The equal-budget study (``ganlab study``): Lucic et al. 2018, "Are GANs Created Equal? A Large-Scale Study".

Most claimed differences between GAN losses vanish once each loss gets the same hyperparameter-search budget
and enough seeds. The study gives every variant of ``study.variants`` the same ``study.num_samples`` random
samples of the same space and the same ``study.steps`` per trial -- a Ray Tune sweep with
``tune.equal_budget`` (random search, no early stopping; the ``tune`` section's collapse and divergence
rules still end a trial, and count as such), each trial a child run of one MLflow parent run, tagged with
its variant. Its outputs go to ``study/`` (as the ``tune`` stage's go to ``tune/``); the report's study section
shows them (:mod:`pipeline.reporting.study_section`).

The default space is compare_gan's v1 space (Lucic et al. 2018, Sec. 4 and the compare_gan repository):
one learning rate for G and D log-uniform in [1e-5, 1e-2], Adam's β1 uniform in [0, 1], k (D steps per G
step) in 1 … 5, and the gradient-penalty weight λ log-uniform in [0.1, 100] (only variants with a gradient
penalty read it). ``study.space`` narrows or replaces it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.config import Config
from pipeline.config.space import COMPARE_GAN_V1_SPACE
from pipeline.tuning.sweep import tune


def study_sweep(config: Config) -> Config:
    """The config whose ``tune`` section is the study's equal-budget sweep."""
    study = config.study
    sweep = dataclasses.replace(
        config.tune, dataset=study.dataset, variants=study.variants, seed=study.seed, scheduler="fifo",
        search="random", equal_budget=True, num_samples=study.num_samples, seeds_per_sample=study.seeds_per_sample,
        steps=study.steps,
        eval_every=study.eval_every, eval_samples=study.eval_samples, cpus_per_trial=study.cpus_per_trial,
        workers_per_trial=1, max_concurrent=0, time_budget_s=None, metric="auto", mode="auto",
        space=study.space or COMPARE_GAN_V1_SPACE)
    return dataclasses.replace(config, tune=sweep)


def run_study(config: Config, restart: bool = False) -> dict[str, Any]:
    """Run (or resume) the study; returns ``study/summary.json``'s content."""
    return tune(study_sweep(config), restart, name="study")
