"""Frozen dataclasses back from the plain containers ``dataclasses.asdict`` makes (what checkpoints, generator files
and JSON store)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping


def from_plain(cls: type, plain: Any) -> Any:
    """A (nested) frozen dataclass from ``dataclasses.asdict`` output: lists back to tuples, dicts to dataclasses."""
    hints = typing.get_type_hints(cls)
    values = {}
    for item in dataclasses.fields(cls):
        values[item.name] = _from_plain_value(hints[item.name], plain[item.name])
    return cls(**values)


def _from_plain_value(hint: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return from_plain(hint, value)
    if typing.get_origin(hint) is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    for option_type in typing.get_args(hint):  # Optional[...] and unions
        if value is not None and option_type is not type(None):
            return _from_plain_value(option_type, value)
    return value
