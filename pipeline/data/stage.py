"""The ``prepare`` stage: dataset → ``data/prepared/<dataset>/`` (+ classifier and its reference stats).

Writes ``train.npz`` (and ``test.npz`` where the data has a test split), a
``manifest.json`` with shape, value range, label count, source and the sha256
of every file, and -- for labelled images -- the domain classifier with its
held-out test accuracy and its statistics of the real training images in
``data/reference/<dataset>/`` (:mod:`pipeline.data.classifier`).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from analysis.classifier import ClassifierSpec, accuracy, train_classifier
from pipeline.common.layout import prepared_dir, reference_dir
from pipeline.config import Config
from pipeline.data.classifier import CLASSIFIER_FILE, save_classifier, save_reference
from pipeline.data.loaders import load_dataset
from pipeline.data.store import save_split, write_manifest

log = logging.getLogger("ganlab.prepare")


def prepare(config: Config, dataset: str) -> dict[str, Any]:
    started = time.time()
    raw = load_dataset(dataset, config)
    out = prepared_dir(dataset)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    splits = {"train": save_split(out, "train", raw.train_x, raw.train_y)}
    if raw.test_x is not None:
        splits["test"] = save_split(out, "test", raw.test_x, raw.test_y)
    labels = raw.train_y if raw.kind == "images" else None
    manifest: dict[str, Any] = {
        "dataset": dataset,
        "kind": raw.kind,
        "shape": list(raw.train_x.shape[1:]),
        "dtype": str(raw.train_x.dtype),
        "range": [float(raw.train_x.min()), float(raw.train_x.max())],
        "label_count": int(len(np.unique(labels))) if labels is not None else 0,
        "splits": splits,
        **raw.info,
    }
    log.info("%s: %d training samples of shape %s, range [%.3g, %.3g]", dataset, len(raw.train_x),
             tuple(manifest["shape"]), *manifest["range"])
    if raw.kind == "images" and labels is not None and raw.test_x is not None:
        manifest["classifier"] = _fit_classifier(config, dataset, raw.train_x, labels, raw.test_x, raw.test_y, out,
                                                 splits["train"]["sha256"])
    else:
        shutil.rmtree(reference_dir(dataset), ignore_errors=True)
        reference_dir(dataset).mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest)
    log.info("%s: prepared in %.1fs", dataset, time.time() - started)
    return manifest


def _fit_classifier(config: Config, dataset: str, x: np.ndarray, y: np.ndarray, test_x: np.ndarray,
                    test_y: np.ndarray, out: Path, train_sha256: str) -> dict[str, Any]:
    cc = config.classifier
    spec = ClassifierSpec(image_shape=tuple(x.shape[1:]), n_classes=int(y.max()) + 1, width=cc.width,
                          feature_dim=cc.feature_dim)
    model = train_classifier(spec, x, y, epochs=cc.epochs, batch_size=cc.batch_size, lr=cc.lr, seed=0,
                             log=lambda message: log.info("%s: %s", dataset, message))
    test_accuracy = accuracy(model, test_x, test_y)
    log.info("%s: domain classifier test accuracy %.4f on %d held-out images", dataset, test_accuracy, len(test_y))
    sha = save_classifier(model, spec, out / CLASSIFIER_FILE)
    shutil.rmtree(reference_dir(dataset), ignore_errors=True)
    save_reference(dataset, model, sha, train_sha256, x, y)
    return {"file": CLASSIFIER_FILE, "sha256": sha, "test_accuracy": test_accuracy, "n_test": int(len(test_y)),
            "spec": spec.as_dict()}
