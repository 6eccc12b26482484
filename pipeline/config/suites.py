"""Suites: the benchmark is a set of named comparisons (DESIGN.md, "Families and tasks"), each its task, datasets ×
variants × seeds and training budget, one report section each. The main suite is params ``benchmark``; the others
are ``suites.<name>``, and ``benchmark.suites`` names those ``dvc repro`` runs beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.families import family_names, variant_names, variant_of
from models.family import TASKS
from models.options import option as _field
from pipeline.datasets import dataset_names

FAMILIES_DOC = ("families crossed with the variants: each family trains each variant's loss recipe (cgan × hinge: "
                "cgan-hinge); empty: the variants as listed")


def crossed_variants(families: tuple[str, ...], variants: tuple[str, ...]) -> tuple[str, ...]:
    """The variants a suite trains: ``variants``, or every family × variant (:func:`models.families.variant_of`;
    a family that cannot train a variant raises ``KeyError`` naming both)."""
    if not families:
        return variants
    return tuple(dict.fromkeys(variant_of(family, variant) for family in families for variant in variants))


@dataclass(frozen=True)
class SuiteConfig:
    """One named suite (params ``suites.<name>``): its task, datasets × variants × seeds, and its training budget
    (``train`` keys over the dataset's; e.g. fewer steps). One report section each."""

    title: str = _field("", doc="its heading in the report (empty: the name)")
    task: str | None = _field(None, choices=TASKS, doc="the task every variant's family must serve (null: any)")
    datasets: tuple[str, ...] = _field(("digits",), choices=dataset_names)
    variants: tuple[str, ...] = _field(("non-saturating",), choices=variant_names)
    seeds: tuple[int, ...] = _field((0,), low=0)
    families: tuple[str, ...] = _field((), choices=family_names, allow_empty=True, doc=FAMILIES_DOC)


#: The name of the main suite, the one ``benchmark`` defines.
MAIN_SUITE = "benchmark"


@dataclass(frozen=True)
class Suite:
    """A resolved suite: name, title, datasets × variants × seeds, and its ``train`` overrides."""

    name: str
    title: str
    datasets: tuple[str, ...]
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    train: tuple[tuple[str, Any], ...]

    def runs(self) -> list[tuple[str, str, int]]:
        return [(d, v, s) for d in self.datasets for v in self.variants for s in self.seeds]
