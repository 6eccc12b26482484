"""Checks of a search space that would otherwise fail only once trials run: every combination of the searched
family options (``families.<family>.<option>``: each choice, each range at both ends), with the other dimensions at
their first value, must resolve for every variant of the sweep -- a family refuses some combinations of its own
options (the ``gan`` family's stabilisation techniques, :mod:`models.techniques`) -- and under PBT, whose exploit step
copies one trial's weights into another (Jaderberg et al. 2017), every combination must build networks of the same
shapes (packing or a minibatch layer changes D's).
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from models.families import family_of, get_variant
from models.family import DataSpec, FamilyError, RunContext
from pipeline.config import Config, ConfigError
from pipeline.config.space import Dimension
from pipeline.tuning.space import VARIANT_KEY, trial_settings

#: Combinations checked at most (a space larger than this is checked on its first ones).
MAX_COMBINATIONS = 256


def _ends(dimension: Dimension) -> list[Any]:
    """The values a check tries: every choice, or both ends of a range."""
    return list(dimension.values) if dimension.kind == "choice" else [dimension.low, dimension.high]


def samples(config: Config) -> list[dict[str, Any]]:
    """The points checked: the searched family options crossed (up to :data:`MAX_COMBINATIONS`), the other
    dimensions at their first value, for each variant of the sweep."""
    space = config.tune.space
    options = [d for d in space if d.name.startswith("families.")]
    fixed = {d.name: _ends(d)[0] for d in space if not d.name.startswith("families.")}
    crossed = itertools.islice(itertools.product(*(_ends(d) for d in options)), MAX_COMBINATIONS)
    return [{**fixed, **dict(zip((d.name for d in options), values)), VARIANT_KEY: variant}
            for values in crossed for variant in config.tune.variants]


def _shapes(variant: str, settings: Any, data: DataSpec) -> dict[str, tuple[int, ...]]:
    with torch.random.fork_rng(devices=[]):
        run = family_of(variant).create(settings, data, RunContext())
    return {f"{name}.{key}": tuple(value.shape) for name, module in run.modules().items()
            for key, value in module.state_dict().items()}


def check_combinations(config: Config) -> None:
    """Refuse (one :class:`ConfigError` line) a space whose checked points a family refuses, or, under PBT, whose
    points build networks of different shapes."""
    dataset, shapes = config.tune.dataset, None
    compare_shapes = config.tune.scheduler == "pbt" and any(d.name.startswith("families.") for d in config.tune.space)
    for sample in samples(config):
        trial, variant = trial_settings(config, dataset, sample)
        family = family_of(variant)
        named = [key for key in sample if key.startswith("families.")] or [key for key in sample if key != VARIANT_KEY]
        point = ", ".join(f"{key} = {sample[key]}" for key in named)
        data = trial.provisional_data(dataset)
        try:
            settings = family.resolve(get_variant(variant), trial.hyperparameters(family.name), data,
                                      trial.ray.num_workers)
        except FamilyError as err:
            raise ConfigError(f"tune.space: {variant} at {point}: {err}") from None
        if not compare_shapes:
            continue
        found = _shapes(variant, settings, data)
        if shapes is None:
            shapes = (point, found)
        elif found != shapes[1]:
            raise ConfigError(f"tune.scheduler: pbt copies weights between trials, but {variant} at {point} builds "
                              f"networks of other shapes than at {shapes[0]}; search that option with asha or fifo")
