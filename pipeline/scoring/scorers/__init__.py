"""The catalogue of scorers: every module of this package registers one (:func:`pipeline.scoring.registry.register_scorer`),
and all of them are imported when :mod:`pipeline.scoring` is, so a new scorer is one module here and nothing else."""

from __future__ import annotations

import importlib
import pkgutil


def load_builtin_scorers() -> None:
    """Import every module of this package (each registers its scorer)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
