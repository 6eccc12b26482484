"""The ``prepare`` stage: dataset → ``data/prepared/<dataset>/`` (+ classifier and its reference stats).

Writes ``train.npz`` (and ``test.npz`` where the data has a test split) with the arrays the registered dataset
provides (:mod:`pipeline.data.store`), a ``manifest.json`` with shape, value range, label count, source, the
tasks the data serves, the shape and pairing of its input images, and the sha256 of every file, and -- for
labelled images -- the domain classifier with its held-out test accuracy and its statistics of the real training
images in ``data/reference/<dataset>/`` (:mod:`pipeline.data.classifier`).

Which images the domain classifier learns: ``x`` with ``y`` (for paired translation and super-resolution data
too: it judges the generated ``x``); for unpaired data both domains' labelled images together (``x`` with ``y``
and ``source`` with ``source_y``), so that one classifier judges label preservation in both directions, with
statistics of each domain's real images (``real_split`` ``train`` and ``train_source``).

Stacked data (``info["stacked"]``: Stacked MNIST, :mod:`pipeline.datasets.catalogue.stacked`) also gets the digit
classifier that mode counting applies to each channel (VEEGAN and PacGAN count the modes of Stacked MNIST with an
MNIST classifier per channel), ``channel_classifier.pt`` beside the domain classifier, trained by the same machinery
and ``classifier`` params on the channels of the stacked training images, each a one-channel image labelled with its
digit (:func:`channel_images`), and tested on the test images' channels. Each distinct channel image counts once
(:func:`distinct_images`): the stacking draws every source digit many times (~52 times in ``stacked-digits``, ~6 in
``stacked-mnist``), and its copies would only multiply the epochs and the time.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from analysis.classifier import ClassifierSpec, DomainClassifier, accuracy, train_classifier
from pipeline.common.layout import prepared_dir, reference_dir
from pipeline.config import Config
from pipeline.data.classifier import CLASSIFIER_FILE, save_classifier, save_reference
from pipeline.data.store import save_split, write_manifest
from pipeline.datasets import get_dataset
from pipeline.datasets.registry import Dataset, RawDataset, can_serve

log = logging.getLogger("ganlab.prepare")

CHANNEL_CLASSIFIER_FILE = "channel_classifier.pt"


def prepare(config: Config, dataset: str) -> dict[str, Any]:
    started = time.time()
    declared = get_dataset(dataset)
    raw = declared.load(config.data)
    out = prepared_dir(dataset)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    splits = {"train": save_split(out, "train", raw.split("train"))}
    if raw.test_x is not None:
        splits["test"] = save_split(out, "test", raw.split("test"))
    manifest = manifest_of(declared, raw, splits)
    log.info("%s: %d training samples of shape %s, range [%.3g, %.3g]", dataset, len(raw.train_x),
             tuple(manifest["shape"]), *manifest["range"])
    shutil.rmtree(reference_dir(dataset), ignore_errors=True)
    if raw.kind == "images" and raw.train_y is not None and raw.test_x is not None:
        manifest["classifier"] = _fit_classifier(config, dataset, raw, out, splits["train"]["sha256"])
        if "stacked" in raw.info:
            manifest["channel_classifier"] = _fit_channel_classifier(config, dataset, raw, out)
    else:
        reference_dir(dataset).mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest)
    log.info("%s: prepared in %.1fs", dataset, time.time() - started)
    return manifest


def manifest_of(declared: Dataset, raw: RawDataset, splits: dict[str, Any]) -> dict[str, Any]:
    """The manifest of ``raw`` (without the classifier): what a family and the scorers read of the data."""
    labels = [y for y in (raw.train_y, raw.train_source_y) if y is not None] if raw.kind == "images" else []
    present = tuple(raw.split("train"))
    manifest: dict[str, Any] = {
        "dataset": declared.name,
        "kind": raw.kind,
        "shape": list(raw.train_x.shape[1:]),
        "dtype": str(raw.train_x.dtype),
        "range": [float(raw.train_x.min()), float(raw.train_x.max())],
        "label_count": int(len(np.unique(np.concatenate(labels)))) if labels else 0,
        "tasks": [t for t in declared.tasks if can_serve(t, present, declared.pairing, declared.scale)],
        "source_shape": list(raw.train_source.shape[1:]) if raw.train_source is not None else None,
        "pairing": declared.pairing if raw.train_source is not None else None,
        "splits": splits,
        **raw.info,
    }
    if raw.train_source is not None:
        manifest["source_range"] = [float(raw.train_source.min()), float(raw.train_source.max())]
    if declared.scale is not None:
        manifest["scale"] = declared.scale
    return manifest


def classifier_images(raw: RawDataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The labelled images the domain classifier learns (or is tested on) from a split: ``x`` with ``y``, and for
    unpaired data also ``source`` with ``source_y`` (see the module docstring)."""
    arrays = raw.split(split)
    if "source_y" not in arrays:
        return arrays["x"], arrays["y"]
    return np.concatenate([arrays["x"], arrays["source"]]), np.concatenate([arrays["y"], arrays["source_y"]])


def channel_images(x: np.ndarray, modes: np.ndarray, stacked: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Every channel of stacked images ``x`` (N, C, S, S) as a one-channel image (N·C, 1, S, S), row ``i·C + c``
    being channel ``c`` of image ``i``, labelled with its digit ``d_c = ⌊mode / place_values[c]⌋ mod digits``."""
    place_values = np.asarray(stacked["place_values"], dtype=np.int64)
    digits = modes[:, None] // place_values % stacked["digits"]
    return x.reshape(-1, 1, *x.shape[2:]), digits.reshape(-1)


def distinct_images(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct (image, label) pair of ``x``, ``y`` once, in the order of its first appearance."""
    rows = np.ascontiguousarray(np.column_stack([x.reshape(len(x), -1), y.astype(x.dtype)]))
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    first = np.sort(np.unique(keys, return_index=True)[1])
    return x[first], y[first]


def _train_and_save(config: Config, dataset: str, train: tuple[np.ndarray, np.ndarray],
                    test: tuple[np.ndarray, np.ndarray], path: Path,
                    what: str) -> tuple[DomainClassifier, dict[str, Any]]:
    """A classifier of the ``classifier`` params trained on ``train`` (images, labels), tested on ``test`` and saved
    to ``path``; its manifest entry (file, sha256, test accuracy, test count, spec)."""
    cc = config.classifier
    (x, y), (test_x, test_y) = train, test
    spec = ClassifierSpec(image_shape=tuple(x.shape[1:]), n_classes=int(y.max()) + 1, width=cc.width,
                          feature_dim=cc.feature_dim)
    model = train_classifier(spec, x, y, epochs=cc.epochs, batch_size=cc.batch_size, lr=cc.lr, seed=0,
                             log=lambda message: log.info("%s: %s", dataset, message))
    test_accuracy = accuracy(model, test_x, test_y)
    log.info("%s: %s test accuracy %.4f on %d held-out images", dataset, what, test_accuracy, len(test_y))
    sha = save_classifier(model, spec, path)
    return model, {"file": path.name, "sha256": sha, "test_accuracy": test_accuracy, "n_test": int(len(test_y)),
                   "spec": spec.as_dict()}


def _fit_classifier(config: Config, dataset: str, raw: RawDataset, out: Path, train_sha256: str) -> dict[str, Any]:
    model, entry = _train_and_save(config, dataset, classifier_images(raw, "train"), classifier_images(raw, "test"),
                                   out / CLASSIFIER_FILE, "domain classifier")
    save_reference(dataset, model, entry["sha256"], train_sha256, raw.train_x, raw.train_y)
    if raw.train_source_y is not None:
        save_reference(dataset, model, entry["sha256"], train_sha256, raw.train_source, raw.train_source_y,
                       "train_source")
    return entry


def _fit_channel_classifier(config: Config, dataset: str, raw: RawDataset, out: Path) -> dict[str, Any]:
    stacked = raw.info["stacked"]
    _, entry = _train_and_save(config, dataset, distinct_images(*channel_images(raw.train_x, raw.train_y, stacked)),
                               distinct_images(*channel_images(raw.test_x, raw.test_y, stacked)),
                               out / CHANNEL_CLASSIFIER_FILE, "channel digit classifier")
    return entry
