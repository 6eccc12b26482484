"""The search space of ``ganlab tune``: parsed and checked from ``tune.space``, turned into
Ray Tune domains, and applied to the config of one trial.

``tune.space`` maps a tunable name to ``[loguniform, low, high]``,
``[uniform, low, high]`` or ``[choice, [v1, v2, …]]``. Every bound and choice
is checked against the rule of the params key it sets (``lr_g`` must be
> 0, ``k_d_steps`` an int >= 1, …) before any trial starts, so a bad space
fails with a message naming ``tune.space.<name>``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from models.losses import get_variant

#: Tunable name → (params section, key, value type). ``beta1`` sets the first of ``train.betas``.
TUNABLE: dict[str, tuple[str, str, type]] = {
    "lr_g": ("train", "lr_g", float),
    "lr_d": ("train", "lr_d", float),
    "k_d_steps": ("train", "k_d_steps", int),
    "batch_size": ("train", "batch_size", int),
    "beta1": ("train", "betas", float),
    "gp_lambda": ("loss", "gp_lambda", float),
}
KINDS = ("loguniform", "uniform", "choice")
#: The hyperparameters Population Based Training mutates (Jaderberg et al. 2017): learning rates and k.
PBT_MUTABLE = ("lr_g", "lr_d", "k_d_steps")


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: a log-uniform or uniform range, or a list of choices."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    def ray_domain(self) -> Any:
        from ray import tune

        if self.kind == "loguniform":
            return tune.loguniform(self.low, self.high)
        if self.kind == "uniform":
            return tune.uniform(self.low, self.high)
        return tune.choice(list(self.values))

    def grid(self, points: int) -> list[Any]:
        """The values an exhaustive grid tries: every choice, or ``points`` evenly (log-)spaced values."""
        if self.kind == "choice":
            return list(self.values)
        spaced = np.geomspace(self.low, self.high, points) if self.kind == "loguniform" else np.linspace(self.low, self.high, points)
        return [int(round(v)) if TUNABLE[self.name][2] is int else float(v) for v in spaced]

    def as_list(self) -> list[Any]:
        """Back to the ``params.yaml`` form."""
        return [self.kind, list(self.values)] if self.kind == "choice" else [self.kind, self.low, self.high]


def parse_space(raw: Any, source: str) -> tuple[Dimension, ...]:
    """Validate ``tune.space``; raise :class:`pipeline.config.ConfigError` naming the bad entry."""
    from pipeline.config import ConfigError

    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{source}: tune.space must be a non-empty mapping of {{name: [kind, ...]}}; "
                          f"tunable names: {', '.join(TUNABLE)}")
    return tuple(_parse_dimension(str(name), spec, source) for name, spec in raw.items())


def _parse_dimension(name: str, spec: Any, source: str) -> Dimension:
    from pipeline.config import ConfigError

    key = f"tune.space.{name}"
    if name not in TUNABLE:
        raise ConfigError(f"{source}: unknown key {key}; tunable: {', '.join(TUNABLE)} "
                          "(the loss variant is searched with tune.variants)")
    if not isinstance(spec, (list, tuple)) or not spec or spec[0] not in KINDS:
        raise ConfigError(f"{source}: {key} = {spec!r} must be [loguniform, low, high], [uniform, low, high] "
                          "or [choice, [values]]")
    kind = spec[0]
    if kind == "choice":
        if len(spec) != 2 or not isinstance(spec[1], (list, tuple)):
            raise ConfigError(f"{source}: {key} = {spec!r} must be [choice, [v1, v2, ...]]")
        if not spec[1]:
            raise ConfigError(f"{source}: {key} has an empty choice list; give at least one value")
        values = tuple(_check(name, f"{key}[{i}]", v, source) for i, v in enumerate(spec[1]))
        if len(set(values)) != len(values):
            raise ConfigError(f"{source}: {key} = {list(spec[1])!r} lists a value twice")
        return Dimension(name, kind, values=values)
    if len(spec) != 3:
        raise ConfigError(f"{source}: {key} = {spec!r} must be [{kind}, low, high]")
    if TUNABLE[name][2] is int:
        raise ConfigError(f"{source}: {key} takes whole numbers; use [choice, [...]] for it")
    low, high = (_check(name, f"{key} {side}", v, source) for side, v in zip(("low", "high"), spec[1:]))
    if low >= high:
        raise ConfigError(f"{source}: {key} has low {low} >= high {high}; the range must not be empty")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{source}: {key} is log-uniform, so low must be > 0 (got {low})")
    return Dimension(name, kind, low=low, high=high)


def _check(name: str, key: str, value: Any, source: str) -> Any:
    """A value of the space, checked with the rule of the params key it sets."""
    from pipeline import config as config_module

    section, field_name, kind = TUNABLE[name]
    cls = config_module.SECTIONS[section]
    rule = {f.name: f for f in dataclasses.fields(cls)}[field_name].metadata
    try:
        return config_module._check_scalar(key, value, kind, rule)
    except config_module.ConfigError as err:
        raise config_module.ConfigError(f"{source}: {err}") from None


def ray_space(space: tuple[Dimension, ...], variants: tuple[str, ...], search: str, grid_points: int) -> dict[str, Any]:
    """Ray Tune's ``param_space``: domains (random, optuna) or grid values (grid); several variants are one more choice."""
    from ray import tune

    if search == "grid":
        params = {d.name: tune.grid_search(d.grid(grid_points)) for d in space}
        if len(variants) > 1:
            params["variant"] = tune.grid_search(list(variants))
        return params
    params = {d.name: d.ray_domain() for d in space}
    if len(variants) > 1:
        params["variant"] = tune.choice(list(variants))
    return params


def grid_size(space: tuple[Dimension, ...], variants: tuple[str, ...], grid_points: int) -> int:
    return math.prod(len(d.grid(grid_points)) for d in space) * len(variants)


def sample_values(config: Any, dataset: str, sample: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
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
        sections[section][key] = value
    return variant, sections


def trial_settings(config: Any, dataset: str, sample: Mapping[str, Any]) -> tuple[Any, str]:
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
                                  cpus_per_worker=max(1, math.floor(tune_cfg.cpus_per_trial / workers)))
    return dataclasses.replace(merged, train=train, loss=loss, ray=ray_cfg, overrides=()), variant
