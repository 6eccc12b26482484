"""The search space of ``ganlab tune`` in Ray Tune's terms, and applied to the config of one trial.

``tune.space`` itself is parsed and checked with the rest of params (:mod:`pipeline.config.space`); here
its dimensions become Ray Tune domains or grid values, and a sampled point becomes a trial's settings.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from models.families import get_variant
from pipeline.config import Config
from pipeline.config.space import ALSO_SETS, TUNABLE, Dimension


def ray_domain(dimension: Dimension) -> Any:
    """The Ray Tune domain a dimension samples from."""
    from ray import tune

    if dimension.kind == "loguniform":
        return tune.loguniform(dimension.low, dimension.high)
    if dimension.kind == "uniform":
        return tune.uniform(dimension.low, dimension.high)
    return tune.choice(list(dimension.values))


def grid_values(dimension: Dimension, points: int) -> list[Any]:
    """The values an exhaustive grid tries: every choice, or ``points`` evenly (log-)spaced values."""
    if dimension.kind == "choice":
        return list(dimension.values)
    spaced = (np.geomspace(dimension.low, dimension.high, points) if dimension.kind == "loguniform"
              else np.linspace(dimension.low, dimension.high, points))
    return [int(round(v)) if TUNABLE[dimension.name][2] is int else float(v) for v in spaced]


def ray_space(space: tuple[Dimension, ...], variants: tuple[str, ...], search: str, grid_points: int,
              equal_budget: bool = False) -> dict[str, Any]:
    """Ray Tune's ``param_space``: domains (random, optuna) or grid values (grid); several variants are one more
    choice, or, with ``equal_budget``, a grid that Tune repeats ``num_samples`` times (each variant gets as many
    random samples of the other dimensions)."""
    from ray import tune

    if equal_budget:
        return {**{d.name: ray_domain(d) for d in space}, "variant": tune.grid_search(list(variants))}
    if search == "grid":
        params = {d.name: tune.grid_search(grid_values(d, grid_points)) for d in space}
        if len(variants) > 1:
            params["variant"] = tune.grid_search(list(variants))
        return params
    params = {d.name: ray_domain(d) for d in space}
    if len(variants) > 1:
        params["variant"] = tune.choice(list(variants))
    return params


def grid_size(space: tuple[Dimension, ...], variants: tuple[str, ...], grid_points: int) -> int:
    return math.prod(len(grid_values(d, grid_points)) for d in space) * len(variants)


def sample_values(config: Config, dataset: str, sample: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """(variant, ``{section: {key: value}}``): the params a sample sets. ``beta1`` becomes ``train.betas``
    with the second Adam β of the dataset's config or, when that is null, of the variant."""
    variant = sample.get("variant", config.tune.variants[0])
    sections: dict[str, dict[str, Any]] = {"train": {}, "loss": {}}
    for name, value in sample.items():
        if name == "variant":
            continue
        section, key, kind = TUNABLE[name]
        value = kind(value)
        if name == "beta1":
            value = (value, (config.for_dataset(dataset).train.betas or get_variant(variant).optimiser.betas)[1])
        for target in (key, *ALSO_SETS.get(name, ())):
            sections[section][target] = value
    return variant, sections


def trial_settings(config: Config, dataset: str, sample: Mapping[str, Any]) -> tuple[Config, str]:
    """(the config one trial trains with, its variant): ``sample`` applied over the dataset's settings.

    The trial trains ``tune.steps`` steps and measures the objective every
    ``tune.eval_every`` steps on ``tune.eval_samples`` samples, with a checkpoint
    at each measurement (what ASHA compares and PBT exploits), on
    ``tune.workers_per_trial`` workers that share ``tune.cpus_per_trial``.
    """
    tune_cfg = config.tune
    merged = config.for_dataset(dataset)
    variant, sections = sample_values(config, dataset, sample)
    train = dataclasses.replace(
        merged.train, **sections["train"], steps=tune_cfg.steps, eval_every=tune_cfg.eval_every,
        checkpoint_every=tune_cfg.eval_every, eval_samples=tune_cfg.eval_samples,
        log_every=math.gcd(merged.train.log_every, tune_cfg.eval_every), keep_checkpoints=2)
    loss = dataclasses.replace(merged.loss, **sections["loss"])
    workers = tune_cfg.workers_per_trial
    ray_cfg = dataclasses.replace(merged.ray, num_workers=workers,
                                  cpus_per_worker=tune_cfg.cpus_per_trial / workers)
    return dataclasses.replace(merged, train=train, loss=loss, ray=ray_cfg, overrides=()), variant
