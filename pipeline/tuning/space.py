"""The search space of ``ganlab tune`` in Ray Tune's terms, and applied to the config of one trial.

``tune.space`` itself is parsed and checked with the rest of params (:mod:`pipeline.config.space`); here
its dimensions become Ray Tune domains or grid values, and a sampled point becomes a trial's settings.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Mapping

import numpy as np

from models.families import get_family, get_variant
from pipeline.config import Config
from pipeline.config.space import Dimension, target


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
    return [float(v) for v in spaced]


#: Keys of a trial's config that place it in an equal-budget sweep rather than set a hyperparameter.
POINT_KEY, SEED_KEY, VARIANT_KEY = "sample", "seed", "variant"


def draw(dimension: Dimension, rng: np.random.Generator) -> Any:
    """One value of ``dimension``: log-uniform as exp(U(log low, log high)), uniform, or one of the choices."""
    if dimension.kind == "loguniform":
        return float(np.exp(rng.uniform(math.log(dimension.low), math.log(dimension.high))))
    if dimension.kind == "uniform":
        return float(rng.uniform(dimension.low, dimension.high))
    return dimension.values[int(rng.integers(len(dimension.values)))]


def shared_points(space: tuple[Dimension, ...], num_samples: int, seed: int) -> list[dict[str, Any]]:
    """The ``num_samples`` points of ``space`` an equal-budget sweep gives every variant, drawn once from
    ``seed`` (Lucic et al. 2018 compare losses on the same random samples of one space)."""
    rng = np.random.default_rng(seed)
    return [{d.name: draw(d, rng) for d in space} for _ in range(num_samples)]


def _point_value(points: list[dict[str, Any]], name: str, config: Mapping[str, Any]) -> Any:
    """``name``'s value at the point the trial's grid index names (Ray Tune resolves it after the grid)."""
    return points[config[POINT_KEY]][name]


def ray_space(settings: Any) -> dict[str, Any]:
    """Ray Tune's ``param_space`` for the ``tune`` section ``settings``: domains (random, optuna) or grid values
    (grid), several variants being one more choice; with ``equal_budget``, a grid of point index × variant ×
    seed whose hyperparameters are looked up in :func:`shared_points`, so every variant trains the very same
    points (a grid beside random domains would make Tune draw them afresh for every grid point)."""
    from ray import tune

    space, variants = settings.space, list(settings.variants)
    if settings.equal_budget:
        points = shared_points(space, settings.num_samples, settings.seed)
        seeds = [settings.seed + i for i in range(settings.seeds_per_sample)]
        return {POINT_KEY: tune.grid_search(list(range(len(points)))), VARIANT_KEY: tune.grid_search(variants),
                SEED_KEY: tune.grid_search(seeds),
                **{d.name: tune.sample_from(functools.partial(_point_value, points, d.name)) for d in space}}
    if settings.search == "grid":
        params = {d.name: tune.grid_search(grid_values(d, settings.grid_points)) for d in space}
        if len(variants) > 1:
            params[VARIANT_KEY] = tune.grid_search(variants)
        return params
    params = {d.name: ray_domain(d) for d in space}
    if len(variants) > 1:
        params[VARIANT_KEY] = tune.choice(variants)
    return params


def sweep_trials(settings: Any) -> int:
    """How many trials the sweep of the ``tune`` section ``settings`` runs."""
    if settings.search == "grid":
        return grid_size(settings.space, settings.variants, settings.grid_points)
    if settings.equal_budget:
        return settings.num_samples * len(settings.variants) * settings.seeds_per_sample
    return settings.num_samples


def grid_size(space: tuple[Dimension, ...], variants: tuple[str, ...], grid_points: int) -> int:
    return math.prod(len(grid_values(d, grid_points)) for d in space) * len(variants)


def sample_values(config: Config, dataset: str, sample: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """(variant, ``{section: {key: value}}``): the params a sample sets, for the sections ``model``, ``loss``,
    ``train`` and ``families`` (``{family: {option: value}}``). ``beta1`` becomes ``train.betas`` with the second
    Adam β of the dataset's config or, when that is null, of the variant."""
    variant = sample.get(VARIANT_KEY, config.tune.variants[0])
    sections: dict[str, dict[str, Any]] = {"model": {}, "loss": {}, "train": {}, "families": {}}
    for name, value in sample.items():
        if name in (POINT_KEY, SEED_KEY, VARIANT_KEY):
            continue
        goal = target(name, name)
        value = goal.coerce(value)
        if name == "beta1":
            value = (value, (config.for_dataset(dataset).train.betas or get_variant(variant).optimiser.betas)[1])
        for key in goal.keys:
            section, field = key.split(".", 1)
            if section == "families":
                family, option = field.split(".", 1)
                sections[section].setdefault(family, {})[option] = value
            else:
                sections[section][field] = value
    return variant, sections


def with_options(config: Config, changes: Mapping[str, Mapping[str, Any]]) -> tuple[tuple[str, Any], ...]:
    """``config.families`` with ``changes`` (family → {option: value}) replacing fields of each family's options
    (a family not given in params starts from its options' defaults)."""
    options = dict(config.families)
    for family, values in changes.items():
        current = options.get(family) or get_family(family).options()
        options[family] = dataclasses.replace(current, **values)
    return tuple(options.items())


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
    workers = tune_cfg.workers_per_trial
    ray_cfg = dataclasses.replace(merged.ray, num_workers=workers,
                                  cpus_per_worker=tune_cfg.cpus_per_trial / workers)
    return dataclasses.replace(
        merged, model=dataclasses.replace(merged.model, **sections["model"]), train=train,
        loss=dataclasses.replace(merged.loss, **sections["loss"]), families=with_options(merged, sections["families"]),
        ray=ray_cfg, overrides=()), variant
