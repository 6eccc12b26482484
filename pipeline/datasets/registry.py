"""The plug-in point of every dataset: what a dataset declares, what it loads into, and the registry.

A **dataset** (:class:`Dataset`) is one registered declaration: its name, its kind (``points`` or ``images``),
the tasks of :data:`models.family.TASKS` it serves, the arrays it provides (``x`` always; ``y`` labels;
``source`` input images; ``source_y`` labels of an unpaired source domain), how ``source`` relates to ``x``
(``pairing``: ``paired`` row by row, or ``unpaired``: two domains of their own sizes), the provisional
:class:`~models.family.DataSpec` a family is checked against before ``prepare`` has run, and how it loads
(:class:`RawDataset`). A dataset reads only the params ``data`` section (:class:`DataSettings`), so this
package never imports :mod:`pipeline.config`, which takes its dataset names from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from models.family import TASK_INPUTS, TASKS, DataSpec

KINDS = ("points", "images")
PAIRINGS = ("paired", "unpaired")
ARRAYS = ("x", "y", "source", "source_y")
#: What a dataset must provide to serve each task, in words (for refusals).
TASK_NEEDS = {
    "unconditional": "samples (x)",
    "class-conditional": "class labels (y)",
    "paired-translation": "input images paired row by row with x, of x's size (a paired source)",
    "unpaired-translation": "a second image domain drawn independently of x (an unpaired source)",
    "super-resolution": "low-resolution inputs paired with x (a source downsampled by a scale)",
}
#: The smallest side of a low-resolution input (``data.image_size`` / scale).
MIN_SOURCE_SIDE = 2


class DatasetError(RuntimeError):
    """A dataset that cannot be read; the message says what is missing and where to put it."""


class DataSettings(Protocol):
    """The params ``data`` section as a dataset reads it (:class:`pipeline.config.DataConfig` is one)."""

    @property
    def image_size(self) -> int: ...

    @property
    def n_points(self) -> int: ...

    @property
    def test_fraction(self) -> float: ...

    @property
    def download(self) -> bool: ...

    def folder(self, dataset: str) -> Path:
        """The folder of a file-backed dataset's standard files."""
        ...


@dataclass
class RawDataset:
    """One dataset in ganlab's convention, before it is written by ``prepare``: points float32 (N, 2); images
    float32 (N, C, S, S) in [-1, 1]; labels int64. ``source`` arrays are the input images of translation and
    super-resolution data, row-aligned with ``x`` when paired, of their own length when unpaired."""

    name: str
    kind: str  # "points" or "images"
    train_x: np.ndarray
    train_y: np.ndarray | None
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    train_source: np.ndarray | None = None
    test_source: np.ndarray | None = None
    train_source_y: np.ndarray | None = None
    test_source_y: np.ndarray | None = None

    def split(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of the ``train`` or ``test`` split that exist, by their on-disk names (``x``, ``y``, …)."""
        arrays = {key: getattr(self, f"{name}_{key}") for key in ARRAYS}
        return {key: value for key, value in arrays.items() if value is not None}


def can_serve(task: str, arrays: tuple[str, ...] | set[str], pairing: str | None, scale: int | None) -> bool:
    """Whether data with these arrays, pairing and scale holds what ``task`` trains on (:data:`TASK_NEEDS`)."""
    if not set(TASK_INPUTS[task]) <= set(arrays):
        return False
    if task == "paired-translation":
        return pairing == "paired" and scale is None
    if task == "super-resolution":
        return pairing == "paired" and scale is not None
    if task == "unpaired-translation":
        return pairing == "unpaired"
    return True


def source_side(image_size: int, scale: int, dataset: str) -> int:
    """Side of a low-resolution input: ``image_size / scale``, refused when it is not a whole number of at least
    :data:`MIN_SOURCE_SIDE` pixels."""
    side, rest = divmod(image_size, scale)
    if rest or side < MIN_SOURCE_SIDE:
        raise DatasetError(f"{dataset}: data.image_size = {image_size} downsampled ×{scale} leaves {image_size / scale:g} "
                           f"pixels; super-resolution needs a multiple of {scale} of at least "
                           f"{scale * MIN_SOURCE_SIDE} (raise data.image_size)")
    return side


@dataclass(frozen=True)
class Dataset:
    """A registered dataset (see the module docstring). ``scale`` is the downsampling factor of a super-resolution
    dataset's ``source``; other sources have the shape of ``x``. ``n_classes`` and ``channels`` describe the
    prepared images for checks before ``prepare`` (0 classes: unknown or unlabelled)."""

    name: str
    kind: str
    tasks: tuple[str, ...]
    loader: Callable[[DataSettings], RawDataset]
    provides: tuple[str, ...] = ("x",)
    pairing: str | None = None
    channels: int = 1
    n_classes: int = 0
    scale: int | None = None
    reference: str = ""

    def provisional(self, data: DataSettings) -> DataSpec:
        """What the dataset will look like once prepared, from the params alone."""
        if self.kind == "points":
            return DataSpec("points", (2,))
        size = data.image_size
        source_shape = None
        if "source" in self.provides:
            side = source_side(size, self.scale, self.name) if self.scale else size
            source_shape = (self.channels, side, side)
        return DataSpec("images", (self.channels, size, size), self.n_classes, source_shape, self.pairing)

    def load(self, data: DataSettings) -> RawDataset:
        """The dataset read by its loader, checked against this declaration."""
        raw = self.loader(data)
        present = set(raw.split("train"))
        if not present <= set(self.provides) or "x" not in present:
            raise DatasetError(f"dataset {self.name} loaded arrays {sorted(present)}, but declares {list(self.provides)}")
        return raw

    def problem(self) -> str | None:
        """Why this declaration is inconsistent (None: it is not)."""
        unknown = [t for t in self.tasks if t not in TASKS]
        if self.kind not in KINDS:
            return f"dataset {self.name!r} has kind {self.kind!r}; kinds: {', '.join(KINDS)}"
        if unknown or not self.tasks:
            return f"dataset {self.name!r} serves unknown tasks {unknown or '(none)'}; tasks: {', '.join(TASKS)}"
        if "x" not in self.provides or not set(self.provides) <= set(ARRAYS):
            return f"dataset {self.name!r} provides {list(self.provides)}; arrays are x (always), {', '.join(ARRAYS[1:])}"
        if ("source" in self.provides) != (self.pairing in PAIRINGS) or (
                "source_y" in self.provides and self.pairing != "unpaired") or (self.scale and self.pairing != "paired"):
            return (f"dataset {self.name!r}: pairing {self.pairing!r} and scale {self.scale!r} do not fit its arrays "
                    f"{list(self.provides)} (a source is paired or unpaired; source_y is unpaired; a scale is paired)")
        for task in self.tasks:
            if not can_serve(task, self.provides, self.pairing, self.scale):
                return f"dataset {self.name!r} serves {task}, which needs {TASK_NEEDS[task]}"
        return None


DATASETS: dict[str, Dataset] = {}


def register_dataset(dataset: Dataset) -> Dataset:
    """Add ``dataset`` to the registry; a second dataset of the same name or an inconsistent declaration is refused."""
    if dataset.name in DATASETS:
        raise ValueError(f"dataset {dataset.name!r} is already registered")
    problem = dataset.problem()
    if problem:
        raise ValueError(problem)
    DATASETS[dataset.name] = dataset
    return dataset
