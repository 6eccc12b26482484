"""The catalogue of datasets: every module of :mod:`pipeline.datasets.catalogue` registers one or more
(:mod:`pipeline.datasets.registry`), and all of them are imported on the first lookup, so a new dataset is one
module there and nothing else. A module of another package (a test's) registers its datasets by being imported.

``pipeline.config`` takes its dataset names from :func:`dataset_names` and its pre-``prepare`` checks from
:meth:`Dataset.provisional`; ``pipeline.data`` prepares what :meth:`Dataset.load` returns.
"""

from __future__ import annotations

import importlib
import pkgutil

from pipeline.datasets import catalogue
from pipeline.datasets.registry import DATASETS, Dataset, DatasetError


def load_builtin_datasets() -> None:
    """Import every module of :mod:`pipeline.datasets.catalogue` (each registers its datasets)."""
    for module in pkgutil.iter_modules(catalogue.__path__):
        importlib.import_module(f"{catalogue.__name__}.{module.name}")


def dataset_names() -> tuple[str, ...]:
    """Every registered dataset's name, sorted."""
    load_builtin_datasets()
    return tuple(sorted(DATASETS))


def get_dataset(name: str) -> Dataset:
    """The registered dataset ``name``; an unknown name raises :class:`DatasetError` listing the registered ones."""
    load_builtin_datasets()
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; registered datasets: {', '.join(dataset_names())}") from None


def datasets_serving(task: str) -> tuple[str, ...]:
    """The registered datasets that serve ``task``, sorted."""
    return tuple(name for name in dataset_names() if task in DATASETS[name].tasks)
