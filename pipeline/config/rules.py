"""Checking one params value against the rule of its field (``models.options.option`` metadata).

Every refusal is one :class:`ConfigError` naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Mapping

from models.options import allowed_choices


class ConfigError(ValueError):
    """A params file that cannot be used; the message says which key and how to fix it."""


def describe(rule: Mapping[str, Any]) -> str:
    """What a rule allows, in words: ``one of a, b`` / ``> 0`` / ``>= 0 and < 1``."""
    parts = []
    choices = allowed_choices(rule)
    if choices is not None:
        parts.append("one of " + ", ".join(map(str, choices)))
    if rule["low"] is not None:
        parts.append(f"{'>' if rule['open_low'] else '>='} {rule['low']}")
    if rule["high"] is not None:
        parts.append(f"{'<' if rule['open_high'] else '<='} {rule['high']}")
    return " and ".join(parts)


def _as_float(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads "1e-4" (no dot) as a string
        except ValueError:
            return value
    return value


def check_scalar(key: str, value: Any, kind: type, rule: Mapping[str, Any]) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} = {value!r} must be true or false")
        return value
    if kind is float:
        value = _as_float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{key} = {value!r} has type {type(value).__name__}; expected {kind.__name__}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{key} = {value!r} is not a finite number; give a finite value ({describe(rule) or 'any real'})")
    choices = allowed_choices(rule)
    if choices is not None and value not in choices:
        raise ConfigError(f"{key} = {value!r} is not allowed; expected {describe(rule)}")
    low, high = rule["low"], rule["high"]
    if low is not None and (value < low or rule["open_low"] and value == low) or (
        high is not None and (value > high or rule["open_high"] and value == high)
    ):
        raise ConfigError(f"{key} = {value!r} is out of range; expected {describe(rule)}")
    return value


def _check_mapping(key: str, value: Any, pair: Any, rule: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A mapping stored as pairs (``data.paths``, ``ray.resources_per_worker``): string keys among the rule's
    choices (or, with ``reserved``, none of those), values of the pair's second type within the rule's bounds
    (string values as written)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} = {value!r} must be a mapping")
    _, kind = typing.get_args(pair)
    key_rule = {**rule, "low": None, "high": None}
    value_rule = {**rule, "choices": None}
    pairs = []
    for name, entry in value.items():
        name = check_scalar(f"{key} key", name, str, key_rule)
        if name in rule.get("reserved", ()):
            raise ConfigError(f"{key}.{printable(name)} is set by another key ({rule['reserved'][name]}); remove it "
                              f"from {key}")
        pairs.append((name, str(entry) if kind is str else check_scalar(f"{key}.{printable(name)}", entry, kind,
                                                                         value_rule)))
    return tuple(pairs)


def _check_tuple(key: str, value: Any, args: tuple[Any, ...], rule: Mapping[str, Any]) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} = {value!r} must be a list")
    if len(args) == 2 and args[1] is Ellipsis:
        if not value and not rule.get("allow_empty"):
            raise ConfigError(f"{key} must not be empty")
        items = tuple(check_scalar(f"{key}[{i}]", v, args[0], rule) for i, v in enumerate(value))
        if len(set(items)) != len(items):
            raise ConfigError(f"{key} = {list(value)!r} lists an entry twice")
        return items
    if len(value) != len(args):
        raise ConfigError(f"{key} = {list(value)!r} must have exactly {len(args)} entries")
    return tuple(check_scalar(f"{key}[{i}]", v, a, rule) for i, (v, a) in enumerate(zip(value, args)))


def check_value(key: str, value: Any, hint: Any, rule: Mapping[str, Any]) -> Any:
    """``value`` checked against a field's type hint (optional, tuple, pair mapping or scalar) and rule."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return check_value(key, value, inner, rule)
    if origin is tuple:
        if args and typing.get_origin(args[0]) is tuple:
            return _check_mapping(key, value, args[0], rule)
        return _check_tuple(key, value, args, rule)
    return check_scalar(key, value, hint, rule)


def printable(key: Any) -> str:
    """A key as written, or its repr when it holds a line break or other unprintable character (one line)."""
    return str(key) if str(key).isprintable() else repr(key)


def section_values(name: str, cls: type, raw: Any, source: str) -> dict[str, Any]:
    """The checked values of one params section (a mapping) for the dataclass ``cls``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section {name!r} must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {printable(name)}.{printable(key)}; allowed keys in {name!r}: "
                              f"{', '.join(fields)}")
        try:
            values[key] = check_value(f"{name}.{key}", value, hints[key], fields[key].metadata)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
    return values
