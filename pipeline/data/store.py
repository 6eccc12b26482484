"""The prepared dataset on disk: ``data/prepared/<dataset>/{train.npz, test.npz, manifest.json}``.

Each split's npz holds ``x``, and where the dataset has them ``y`` (labels), ``source`` (the input images of
translation and super-resolution data) and ``source_y`` (the labels of an unpaired source domain). The manifest
records shape, value range, label count, the tasks the data serves, ``source_shape``, ``pairing``
(``paired``/``unpaired``), ``scale`` (super-resolution) and the sha256 of every file; :func:`load_prepared`
verifies them, so a corrupt or hand-edited array is refused with a message that says how to rebuild it.
:func:`data_spec` and :func:`training_arrays` give a family what it sees of the data and trains on.
"""

from __future__ import annotations

import dataclasses
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.family import TASK_INPUTS, DataSpec
from pipeline.datasets import datasets_serving
from pipeline.datasets.registry import ARRAYS, TASK_NEEDS
from pipeline.common.digest import sha256_file
from pipeline.common.files import CorruptFileError, atomic_path, read_json, write_json
from pipeline.common.layout import prepared_dir

MANIFEST = "manifest.json"
FORMAT_VERSION = 2  # 2: source, source_y, tasks, source_shape, pairing, scale


class PreparedDataError(RuntimeError):
    """Prepared data that is missing, corrupt or of another format."""


@dataclass
class PreparedData:
    dataset: str
    kind: str
    train_x: np.ndarray
    train_y: np.ndarray | None
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    manifest: dict[str, Any]
    directory: Path
    train_source: np.ndarray | None = None
    test_source: np.ndarray | None = None
    train_source_y: np.ndarray | None = None
    test_source_y: np.ndarray | None = None
    #: Whose real statistics the domain classifier compares samples with: "train" (the ``x`` domain) or
    #: "train_source" (an unpaired dataset's ``source`` domain, in :meth:`reversed` data).
    real_split: str = "train"

    def reversed(self) -> PreparedData:
        """Unpaired data with its two domains swapped (``x`` ↔ ``source``, ``y`` ↔ ``source_y``, their shapes and
        real statistics): what a B→A translation is scored on."""
        if self.pairing != "unpaired":
            raise PreparedDataError(f"{self.dataset}: only unpaired data has two domains to swap (pairing "
                                    f"{self.pairing})")
        manifest = {**self.manifest, "shape": self.manifest["source_shape"], "source_shape": self.manifest["shape"]}
        return dataclasses.replace(
            self, train_x=self.train_source, train_y=self.train_source_y, test_x=self.test_source,
            test_y=self.test_source_y, train_source=self.train_x, train_source_y=self.train_y,
            test_source=self.test_x, test_source_y=self.test_y, manifest=manifest,
            real_split="train_source" if self.real_split == "train" else "train")

    @property
    def pairing(self) -> str | None:
        """How ``source`` relates to ``x``: "paired", "unpaired", or None (no source)."""
        return self.manifest.get("pairing")

    @property
    def n_classes(self) -> int:
        return int(self.manifest.get("label_count") or 0)


def save_split(directory: Path, name: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """``<name>.npz`` of ``arrays`` (``x`` and any of ``y``, ``source``, ``source_y``); its manifest entry: file,
    sha256, ``n`` (rows of ``x``) and ``n_source`` (rows of ``source``, where there is one)."""
    path = directory / f"{name}.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    entry = {"file": path.name, "sha256": sha256_file(path), "n": int(len(arrays["x"]))}
    if "source" in arrays:
        entry["n_source"] = int(len(arrays["source"]))
    return entry


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    write_json(directory / MANIFEST, {"format": FORMAT_VERSION, **manifest})


def rebuild_hint(dataset: str) -> str:
    return f"rebuild it with `dvc repro prepare@{dataset}` (or `ganlab prepare --dataset {dataset}`)"


def read_manifest(directory: Path, dataset: str) -> dict[str, Any]:
    try:
        manifest = read_json(directory / MANIFEST, "prepared-data manifest", rebuild_hint(dataset))
    except (FileNotFoundError, CorruptFileError) as err:
        raise PreparedDataError(str(err)) from None
    if manifest.get("format") != FORMAT_VERSION:
        raise PreparedDataError(f"{directory / MANIFEST} has format {manifest.get('format')}, expected {FORMAT_VERSION}; {rebuild_hint(dataset)}")
    return manifest


def _load_split(directory: Path, entry: dict[str, Any], dataset: str) -> dict[str, np.ndarray]:
    """The arrays of one split by name, after checking the file against its manifest's sha256."""
    path = directory / entry["file"]
    if not path.is_file():
        raise PreparedDataError(f"{path} is missing; {rebuild_hint(dataset)}")
    if sha256_file(path) != entry["sha256"]:
        raise PreparedDataError(f"{path} does not match the sha256 in its manifest (corrupt or edited); {rebuild_hint(dataset)}")
    try:
        with np.load(path) as arrays:
            found = {key: arrays[key] for key in ARRAYS if key in arrays}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise PreparedDataError(f"{path} cannot be read ({err}); {rebuild_hint(dataset)}") from err
    if "x" not in found:
        raise PreparedDataError(f"{path} holds no x array; {rebuild_hint(dataset)}")
    return found


def load_prepared(dataset: str, directory: Path | None = None) -> PreparedData:
    """Load and verify a prepared dataset."""
    directory = directory or prepared_dir(dataset)
    manifest = read_manifest(directory, dataset)
    train = _load_split(directory, manifest["splits"]["train"], dataset)
    test = _load_split(directory, manifest["splits"]["test"], dataset) if "test" in manifest["splits"] else {}
    return PreparedData(dataset, manifest["kind"], train["x"], train.get("y"), test.get("x"), test.get("y"), manifest,
                        directory, train.get("source"), test.get("source"), train.get("source_y"),
                        test.get("source_y"))


def data_spec(prepared: PreparedData) -> DataSpec:
    """What a family sees of a prepared dataset: its kind, one sample's shape, its label count, and the shape and
    pairing of its input images (None where it has none)."""
    source_shape = prepared.manifest.get("source_shape")
    return DataSpec(kind=prepared.kind, shape=tuple(prepared.manifest["shape"]), n_classes=prepared.n_classes,
                    source_shape=tuple(source_shape) if source_shape else None, pairing=prepared.pairing)


def training_arrays(prepared: PreparedData, task: str) -> dict[str, np.ndarray]:
    """The training split as the batch keys of ``task`` (:data:`models.family.TASK_INPUTS`: ``x``; ``y`` for
    class-conditional tasks; ``source`` for translation and super-resolution). Data that does not serve ``task``
    (the manifest's ``tasks``) is refused in one line naming what it lacks and the datasets that have it."""
    if task not in prepared.manifest["tasks"]:
        raise PreparedDataError(f"{prepared.directory}: {prepared.dataset} cannot train a {task} family: it has no "
                                f"{TASK_NEEDS[task]}; datasets that have: {', '.join(datasets_serving(task))}")
    arrays = {"x": prepared.train_x, "y": prepared.train_y, "source": prepared.train_source}
    return {key: arrays[key] for key in TASK_INPUTS[task]}
