"""The prepared dataset on disk: ``data/prepared/<dataset>/{train.npz, test.npz, manifest.json}``.

The manifest records shape, value range, label count and the sha256 of every
file; :func:`load_prepared` verifies them, so a corrupt or hand-edited array
is refused with a message that says how to rebuild it. :func:`data_spec` and
:func:`training_arrays` give a family what it sees of the data and trains on.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.family import TASK_INPUTS, DataSpec
from pipeline.common.digest import sha256_file
from pipeline.common.files import CorruptFileError, atomic_path, read_json, write_json
from pipeline.common.layout import prepared_dir

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


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

    @property
    def n_classes(self) -> int:
        return int(self.manifest.get("label_count") or 0)


def save_split(directory: Path, name: str, x: np.ndarray, y: np.ndarray | None) -> dict[str, Any]:
    arrays = {"x": x} if y is None else {"x": x, "y": y}
    path = directory / f"{name}.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return {"file": path.name, "sha256": sha256_file(path), "n": int(len(x))}


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


def _load_split(directory: Path, entry: dict[str, Any], dataset: str) -> tuple[np.ndarray, np.ndarray | None]:
    path = directory / entry["file"]
    if not path.is_file():
        raise PreparedDataError(f"{path} is missing; {rebuild_hint(dataset)}")
    if sha256_file(path) != entry["sha256"]:
        raise PreparedDataError(f"{path} does not match the sha256 in its manifest (corrupt or edited); {rebuild_hint(dataset)}")
    try:
        with np.load(path) as arrays:
            return arrays["x"], (arrays["y"] if "y" in arrays else None)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise PreparedDataError(f"{path} cannot be read ({err}); {rebuild_hint(dataset)}") from err


def load_prepared(dataset: str, directory: Path | None = None) -> PreparedData:
    """Load and verify a prepared dataset."""
    directory = directory or prepared_dir(dataset)
    manifest = read_manifest(directory, dataset)
    train_x, train_y = _load_split(directory, manifest["splits"]["train"], dataset)
    test_x = test_y = None
    if "test" in manifest["splits"]:
        test_x, test_y = _load_split(directory, manifest["splits"]["test"], dataset)
    return PreparedData(dataset, manifest["kind"], train_x, train_y, test_x, test_y, manifest, directory)


def data_spec(prepared: PreparedData) -> DataSpec:
    """What a family sees of a prepared dataset: its kind, one sample's shape and its label count."""
    return DataSpec(kind=prepared.kind, shape=tuple(prepared.manifest["shape"]), n_classes=prepared.n_classes)


def training_arrays(prepared: PreparedData, task: str) -> dict[str, np.ndarray]:
    """The training split as the batch keys of ``task`` (``x``; ``y`` for class-conditional tasks)."""
    keys = TASK_INPUTS[task]
    arrays = {"x": prepared.train_x}
    if "y" in keys:
        if prepared.train_y is None:
            raise PreparedDataError(f"{prepared.directory}: {task} training needs labels, which {prepared.dataset} "
                                    "does not have")
        arrays["y"] = prepared.train_y
    if "source" in keys:
        raise PreparedDataError(f"{prepared.dataset} has no paired input images for {task} training")
    return arrays
