"""Test data of the translation and super-resolution tasks built from a prepared dataset: the one place that knows
how :class:`PreparedData` carries sources (``test_source``, ``test_source_y``, manifest ``pairing``/``scale``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.data.store import PreparedData


def with_sources(prepared: PreparedData, pairing: str, test_source: np.ndarray, test_source_y: np.ndarray | None = None,
                 scale: int | None = None, test_x: np.ndarray | None = None) -> PreparedData:
    """``prepared`` with test-split sources (row i of ``test_source`` pairs with row i of ``test_x`` when paired)."""
    manifest = {**prepared.manifest, "pairing": pairing, "source_shape": list(test_source.shape[1:])}
    if scale is not None:
        manifest["scale"] = scale
    data = dataclasses.replace(prepared, manifest=manifest, test_x=prepared.test_x if test_x is None else test_x)
    for name, value in (("train_source", None), ("train_source_y", None), ("test_source", test_source),
                        ("test_source_y", test_source_y)):
        setattr(data, name, value)
    return data


def without_sources(prepared: PreparedData) -> PreparedData:
    """``prepared`` as a dataset of a task without sources."""
    data = dataclasses.replace(prepared)
    for name in ("train_source", "train_source_y", "test_source", "test_source_y"):
        setattr(data, name, None)
    return data
