"""Scorers of the evaluate stage alone: each module registers one scorer (as :mod:`pipeline.scoring.scorers` does)
that never runs during training (no ``in_training`` task), so its code is outside every run's key: adding or
changing one re-scores the runs and retrains none (DESIGN.md: a run's key hashes the code that shapes the
training). The evaluate stage and the report load them with :func:`load_final_scorers`.
"""

from __future__ import annotations

import importlib
import pkgutil

from pipeline.scoring.registry import SCORERS


def load_final_scorers() -> None:
    """Import every module of this package (each registers its scorer); a scorer here that asks to run during
    training is refused, naming it."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    for scorer in SCORERS:
        if scorer.__module__.startswith(f"{__name__}.") and scorer.in_training:
            raise ValueError(f"scorer {scorer.name!r} ({scorer.__module__}) runs during training "
                             f"({', '.join(scorer.in_training)}): move it to pipeline.scoring.scorers, whose code "
                             "is part of every run's key")
