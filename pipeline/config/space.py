"""``tune.space``: the searched hyperparameters, parsed and checked before any trial starts.

``tune.space`` maps a tunable name to ``[loguniform, low, high]``,
``[uniform, low, high]`` or ``[choice, [v1, v2, …]]``. Every bound and choice
is checked against the rule of the params key it sets (``lr_g`` must be
> 0, ``k_d_steps`` an int >= 1, …), so a bad space fails with a message naming
``tune.space.<name>``. Turning a space into Ray Tune domains is
:mod:`pipeline.tuning.space`'s job.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from pipeline.config.rules import ConfigError, check_scalar, printable
from pipeline.config.sections import SECTIONS

#: Tunable name → (params section, key, value type). ``beta1`` sets the first of ``train.betas``; ``lr`` sets
#: both learning rates (compare_gan's single ``learning_rate``).
TUNABLE: dict[str, tuple[str, str, type]] = {
    "lr": ("train", "lr_g", float),
    "lr_g": ("train", "lr_g", float),
    "lr_d": ("train", "lr_d", float),
    "k_d_steps": ("train", "k_d_steps", int),
    "batch_size": ("train", "batch_size", int),
    "beta1": ("train", "betas", float),
    "gp_lambda": ("loss", "gp_lambda", float),
}
KINDS = ("loguniform", "uniform", "choice")
#: The hyperparameters Population Based Training mutates (Jaderberg et al. 2017): learning rates and k.
PBT_MUTABLE = ("lr", "lr_g", "lr_d", "k_d_steps")
#: Tunable names that set more keys of their section than TUNABLE's.
ALSO_SETS: dict[str, tuple[str, ...]] = {"lr": ("lr_d",)}


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: a log-uniform or uniform range, or a list of choices."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()

    def as_list(self) -> list[Any]:
        """Back to the ``params.yaml`` form."""
        return [self.kind, list(self.values)] if self.kind == "choice" else [self.kind, self.low, self.high]


def parse_space(raw: Any, source: str, section: str = "tune") -> tuple[Dimension, ...]:
    """Validate ``<section>.space`` (``tune`` or ``study``); raise :class:`ConfigError` naming the bad entry."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{source}: {section}.space must be a non-empty mapping of {{name: [kind, ...]}}; "
                          f"tunable names: {', '.join(TUNABLE)}")
    dimensions = tuple(_parse_dimension(str(name), spec, source, section) for name, spec in raw.items())
    names = {d.name for d in dimensions}
    if "lr" in names and names & {"lr_g", "lr_d"}:
        raise ConfigError(f"{source}: {section}.space.lr sets both learning rates; leave out lr_g and lr_d, or lr")
    return dimensions


def _parse_dimension(name: str, spec: Any, source: str, section: str) -> Dimension:
    key = f"{section}.space.{printable(name)}"
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
    section, field_name, kind = TUNABLE[name]
    rule = {f.name: f for f in dataclasses.fields(SECTIONS[section])}[field_name].metadata
    try:
        return check_scalar(key, value, kind, rule)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
