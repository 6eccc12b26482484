"""What each task's evaluation samples are drawn given (the ``conditions`` of :meth:`Sampler.draw`), in one place.

* ``unconditional``: nothing.
* ``class-conditional``: balanced labels, sample i asks for class ``i mod K``.
* ``paired-translation``, ``super-resolution``: the test split's sources in order, repeated when more samples
  than sources are asked for: sample i is drawn from ``test_source[i mod n_test]``, and the scorers compare it
  with ``test_x[i mod n_test]`` (:func:`held_out_index`).
* ``unpaired-translation``: the test split's domain-A images the same way; sample i should keep the label
  ``test_source_y[i mod n_test]``, which the scorers read by the same index (G is given only the images).

Every rule is a prefix rule: the conditions of N samples are the first N of any larger draw, so the evaluate
stage draws once for every scorer and each takes its first N.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from pipeline.data.store import PreparedData


def held_out_index(n: int, count: int) -> np.ndarray:
    """The held-out row each of ``n`` samples is drawn from (and scored against): ``i mod count``."""
    return np.arange(n, dtype=np.int64) % count


def balanced_labels(n: int, n_classes: int) -> np.ndarray:
    """``y = i mod n_classes``: every class in turn."""
    return np.arange(n, dtype=np.int64) % n_classes


def _nothing(prepared: PreparedData, n: int) -> dict[str, np.ndarray]:
    return {}


def _labels(prepared: PreparedData, n: int) -> dict[str, np.ndarray]:
    return {"y": balanced_labels(n, prepared.n_classes)}


def sources_of(prepared: PreparedData) -> np.ndarray:
    """The test split's source images; a dataset without them is refused in one line."""
    if prepared.test_source is None or not len(prepared.test_source):
        raise ValueError(f"{prepared.dataset} has no test-split source images to translate for evaluation; "
                         f"prepare it as a dataset with sources (manifest pairing paired or unpaired)")
    return prepared.test_source


def _held_out_sources(prepared: PreparedData, n: int) -> dict[str, np.ndarray]:
    sources = sources_of(prepared)
    return {"source": sources[held_out_index(n, len(sources))]}


TASK_CONDITIONS: dict[str, Callable[[PreparedData, int], dict[str, np.ndarray]]] = {
    "unconditional": _nothing,
    "class-conditional": _labels,
    "paired-translation": _held_out_sources,
    "super-resolution": _held_out_sources,
    "unpaired-translation": _held_out_sources,
}


def conditions_for(task: str, prepared: PreparedData, n: int) -> dict[str, np.ndarray]:
    """The conditions ``n`` evaluation samples of ``task`` are drawn with (see the module docstring)."""
    if task not in TASK_CONDITIONS:
        raise KeyError(f"unknown task {task!r}; tasks: {', '.join(TASK_CONDITIONS)}")
    return TASK_CONDITIONS[task](prepared, n)
