"""``tune.space`` and ``study.space``: the searched hyperparameters, parsed and checked before any trial starts.

A space maps a name to ``[loguniform, low, high]``, ``[uniform, low, high]`` or ``[choice, [v1, v2, …]]``. A
name is a params key -- ``model.<key>``, ``loss.<key>`` or ``train.<key>`` (a field of that section), or
``families.<family>.<option>`` (an option of that family's ``options``, params ``families.<family>``) -- or
one of the short names of :data:`SHORT_NAMES` (``lr``, ``lr_g``, ``beta1``, …), which stand for their keys.
Every bound and choice is checked against the rule of the key it sets (``train.lr_g`` must be > 0,
``train.k_d_steps`` an int >= 1, …); ranges are for real-valued keys only. A space names only what the
families of its variants read (:func:`check_reads`). Errors name ``<section>.space.<name>``. Turning a
space into Ray Tune domains, and a sample into a trial's config, is :mod:`pipeline.tuning.space`'s job.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping

from models.families import family_of, load_builtin_families
from models.family import FAMILIES
from pipeline.config.rules import ConfigError, check_value, printable
from pipeline.config.sections import SECTIONS

#: Short name → the params keys it sets. ``lr`` sets both learning rates (compare_gan's single ``learning_rate``);
#: ``beta1`` sets the first Adam β of ``train.betas`` (the second stays the config's or the variant's).
SHORT_NAMES: dict[str, tuple[str, ...]] = {
    "lr": ("train.lr_g", "train.lr_d"),
    "lr_g": ("train.lr_g",),
    "lr_d": ("train.lr_d",),
    "k_d_steps": ("train.k_d_steps",),
    "batch_size": ("train.batch_size",),
    "beta1": ("train.betas",),
    "gp_lambda": ("loss.gp_lambda",),
}
KINDS = ("loguniform", "uniform", "choice")
#: The sections whose keys a space may name (``families.<family>.<option>`` besides).
SEARCHED_SECTIONS = ("model", "loss", "train")
#: ``train`` keys every trial takes from the sweep itself (``tune.steps``, ``tune.eval_every``, ...).
SET_BY_SWEEP = ("steps", "log_every", "eval_every", "checkpoint_every", "eval_samples", "keep_checkpoints")
#: The ``train`` keys a family reads (:meth:`pipeline.config.Config.hyperparameters` hands them over, as all of
#: ``model`` and ``loss``); the others are the training loop's, read for every family.
FAMILY_TRAIN_KEYS = ("optimiser", "lr_g", "lr_d", "betas", "k_d_steps", "lr_scaling")
#: What Population Based Training mutates inside a running trial (Jaderberg et al. 2017): learning rates and k.
PBT_KEYS = ("train.lr_g", "train.lr_d", "train.k_d_steps")


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
        if self.kind == "choice":
            return [self.kind, [list(v) if isinstance(v, tuple) else v for v in self.values]]
        return [self.kind, self.low, self.high]


@dataclass(frozen=True)
class Target:
    """What a searched name sets: its params keys, the type of one value and the rule the value obeys."""

    keys: tuple[str, ...]
    hint: Any
    rule: Mapping[str, Any]

    def coerce(self, value: Any) -> Any:
        """A sampled value as its key takes it: numbers (numpy's too, from a results table) as the key's type,
        lists (from JSON) back to tuples."""
        if isinstance(value, (list, tuple)):
            return tuple(_scalar(self.hint)(item) for item in value)
        kind = _not_none(self.hint)
        return kind(value) if value is not None and kind in (int, float, bool, str) else value

    @property
    def family(self) -> str | None:
        """The family whose option this sets (``families.<family>.<option>``), else None."""
        return self.keys[0].split(".")[1] if self.keys[0].startswith("families.") else None


#: The study's space when ``study.space`` is left out: compare_gan's v1 space (Lucic et al. 2018, Sec. 4): one
#: learning rate for G and D, Adam's β1, k, and the gradient-penalty weight λ.
COMPARE_GAN_V1_SPACE = (
    Dimension("lr", "loguniform", low=1e-5, high=1e-2),
    Dimension("beta1", "uniform", low=0.0, high=1.0),
    Dimension("k_d_steps", "choice", values=(1, 2, 3, 4, 5)),
    Dimension("gp_lambda", "loguniform", low=0.1, high=100.0),
)


def _field(cls: type, name: str) -> tuple[Any, Mapping[str, Any]] | None:
    """(type hint, rule) of the field ``name`` of the dataclass ``cls``, or None."""
    fields = {item.name: item for item in dataclasses.fields(cls)}
    return (typing.get_type_hints(cls)[name], fields[name].metadata) if name in fields else None


def _not_none(hint: Any) -> Any:
    """``float | None`` → float; other hints as they are."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return inner
    return hint


def _scalar(hint: Any) -> Any:
    """The type of one entry of ``hint`` (``float | None`` → float; ``tuple[float, float] | None`` → float)."""
    hint = _not_none(hint)
    return typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint


def _family_option(name: str, key: str) -> Target:
    parts = name.split(".", 2)
    load_builtin_families()
    family = FAMILIES.get(parts[1]) if len(parts) == 3 else None
    if family is None:
        raise ConfigError(f"{key} must be families.<family>.<option> of a registered family; known families: "
                          f"{', '.join(sorted(FAMILIES))}")
    found = _field(family.options, parts[2]) if family.options is not None else None
    if found is None:
        options = [item.name for item in dataclasses.fields(family.options)] if family.options else []
        raise ConfigError(f"{key}: family {family.name} has no option {parts[2]!r}; its options: "
                          f"{', '.join(options) or 'none'}")
    return Target((name,), *found)


def target(name: str, key: str) -> Target:
    """What the space's name ``name`` sets; ``key`` (``tune.space.<name>``) names it in errors."""
    if name in SHORT_NAMES:
        keys = SHORT_NAMES[name]
        section, field_name = keys[0].split(".")
        hint, rule = _field(SECTIONS[section], field_name)
        return Target(keys, _scalar(hint), rule)
    if name.startswith("families."):
        return _family_option(name, key)
    section, _, field_name = name.partition(".")
    if section not in SEARCHED_SECTIONS:
        raise ConfigError(f"unknown key {key}; tunable: {', '.join(SHORT_NAMES)}, model.<key>, loss.<key>, "
                          "train.<key>, families.<family>.<option> (the loss variant is searched with tune.variants)")
    found = _field(SECTIONS[section], field_name)
    if found is None:
        raise ConfigError(f"{key}: {section} has no key {field_name!r}; its keys: "
                          f"{', '.join(item.name for item in dataclasses.fields(SECTIONS[section]))}")
    if section == "train" and field_name in SET_BY_SWEEP:
        raise ConfigError(f"{key}: every trial takes train.{field_name} from the sweep (tune.steps, tune.eval_every, "
                          "tune.eval_samples); it cannot be searched")
    return Target((name,), *found)


def parse_space(raw: Any, source: str, section: str = "tune") -> tuple[Dimension, ...]:
    """Validate ``<section>.space`` (``tune`` or ``study``); raise :class:`ConfigError` naming the bad entry."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{source}: {section}.space must be a non-empty mapping of {{name: [kind, ...]}}; "
                          f"tunable names: {', '.join(SHORT_NAMES)}, model.<key>, loss.<key>, train.<key>, "
                          "families.<family>.<option>")
    try:
        dimensions = tuple(_parse_dimension(str(name), spec, f"{section}.space.{printable(name)}")
                           for name, spec in raw.items())
        _check_distinct(dimensions, section)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return dimensions


def _check_distinct(dimensions: tuple[Dimension, ...], section: str) -> None:
    """No params key set by two dimensions."""
    setters: dict[str, str] = {}
    for dimension in dimensions:
        for key in target(dimension.name, "").keys:
            if key in setters:
                raise ConfigError(f"{section}.space.{setters[key]} and {section}.space.{dimension.name} both set "
                                  f"{key}; keep one of them")
            setters[key] = dimension.name


def _parse_dimension(name: str, spec: Any, key: str) -> Dimension:
    goal = target(name, key)
    if not isinstance(spec, (list, tuple)) or not spec or spec[0] not in KINDS:
        raise ConfigError(f"{key} = {spec!r} must be [loguniform, low, high], [uniform, low, high] "
                          "or [choice, [values]]")
    kind = spec[0]
    if kind == "choice":
        if len(spec) != 2 or not isinstance(spec[1], (list, tuple)):
            raise ConfigError(f"{key} = {spec!r} must be [choice, [v1, v2, ...]]")
        if not spec[1]:
            raise ConfigError(f"{key} has an empty choice list; give at least one value")
        values = tuple(check_value(f"{key}[{i}]", v, goal.hint, goal.rule) for i, v in enumerate(spec[1]))
        if len(set(values)) != len(values):
            raise ConfigError(f"{key} = {list(spec[1])!r} lists a value twice")
        return Dimension(name, kind, values=values)
    if len(spec) != 3:
        raise ConfigError(f"{key} = {spec!r} must be [{kind}, low, high]")
    value_type = _not_none(goal.hint)
    if value_type is int:
        raise ConfigError(f"{key} takes whole numbers; use [choice, [...]] for it")
    if value_type is not float:
        raise ConfigError(f"{key} takes values of type {getattr(value_type, '__name__', value_type)}, not a range; "
                          "use [choice, [...]] for it")
    low, high = (check_value(f"{key} {side}", v, float, goal.rule) for side, v in zip(("low", "high"), spec[1:]))
    if low >= high:
        raise ConfigError(f"{key} has low {low} >= high {high}; the range must not be empty")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{key} is log-uniform, so low must be > 0 (got {low})")
    return Dimension(name, kind, low=low, high=high)


def _read_by_family(key: str) -> bool:
    """Whether a family reads the shared key ``key`` (else the training loop does, for every family)."""
    section, name = key.split(".", 1)
    return section in ("model", "loss") or section == "train" and name in FAMILY_TRAIN_KEYS


def check_reads(space: tuple[Dimension, ...], variants: tuple[str, ...], section: str) -> None:
    """Refuse (one :class:`ConfigError` line) a dimension that a searched variant's family would not read: a shared
    key left out of the family's :attr:`~models.family.Family.reads`, or ``families.X.*`` where no variant is of X."""
    families = {variant: family_of(variant) for variant in variants}
    for dimension in space:
        key = f"{section}.space.{dimension.name}"
        goal = target(dimension.name, key)
        if goal.family is not None:
            if goal.family not in {family.name for family in families.values()}:
                raise ConfigError(f"{key} sets an option of family {goal.family}, but no variant of {section}.variants "
                                  f"({', '.join(variants)}) is of that family; leave it out or search such a variant")
            continue
        for variant, family in families.items():
            shared = [k for k in goal.keys if _read_by_family(k)]
            if shared and not set(shared) & set(family.reads):
                raise ConfigError(f"{key} sets {', '.join(goal.keys)}, which family {family.name} (variant {variant}) "
                                  f"does not read; it reads {', '.join(family.reads) or 'no shared key'}"
                                  f"{' and its options families.' + family.name + '.*' if family.options else ''}")


def pbt_mutable(dimension: Dimension) -> bool:
    """Whether Population Based Training may change ``dimension`` inside a running trial (:data:`PBT_KEYS`)."""
    return set(target(dimension.name, dimension.name).keys) <= set(PBT_KEYS)
