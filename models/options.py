"""Typed hyperparameters with the values they allow: one field helper for every params section.

``option(default, low=…, high=…, choices=…)`` is a ``dataclasses.field`` whose metadata
states what is allowed; ``pipeline.config`` validates ``params.yaml`` against it, and a
family's own options (``families.<name>`` in params) are declared the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable


def option(default: Any, *, low: float | None = None, high: float | None = None, open_low: bool = False,
           open_high: bool = False, choices: tuple[Any, ...] | Callable[[], tuple[Any, ...]] | None = None,
           doc: str = "", allow_empty: bool = False) -> Any:
    """A dataclass field with its rule: ``low``/``high`` bounds (open or closed), or ``choices``
    (a tuple, or a function returning one for registries that grow at run time); a list may be empty only with
    ``allow_empty``."""
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for defaults")
    rule = {"low": low, "high": high, "open_low": open_low, "open_high": open_high, "choices": choices, "doc": doc,
            "allow_empty": allow_empty}
    return dataclasses.field(default=default, metadata=rule)


def allowed_choices(rule: dict[str, Any]) -> tuple[Any, ...] | None:
    choices = rule.get("choices")
    return choices() if callable(choices) else choices
