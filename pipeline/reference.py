"""The domain classifier and its real-data reference statistics, as ``prepare`` writes them.

``data/prepared/<dataset>/classifier.pt`` holds the classifier;
``data/reference/<dataset>/classifier.npz`` holds the real training set's
feature mean/covariance and label histogram, stamped with the classifier's
sha256 so statistics from another classifier are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from analysis.classifier import ClassifierSpec, DomainClassifier
from analysis.features import stream_features
from analysis.frechet import FeatureStats
from pipeline.files import atomic_path, sha256_file
from pipeline.layout import reference_dir

CLASSIFIER_FILE = "classifier.pt"
REFERENCE_FILE = "classifier.npz"


class ReferenceError(RuntimeError):
    pass


@dataclass(frozen=True)
class ClassifierReference:
    model: DomainClassifier
    sha256: str
    real: FeatureStats
    real_labels: np.ndarray
    test_accuracy: float


def save_classifier(model: DomainClassifier, spec: ClassifierSpec, path: Path) -> str:
    with atomic_path(path) as tmp:
        torch.save({"spec": spec.as_dict(), "state_dict": model.state_dict()}, tmp)
    return sha256_file(path)


def load_classifier(path: Path) -> DomainClassifier:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    spec = payload["spec"]
    model = DomainClassifier(ClassifierSpec(image_shape=tuple(spec["image_shape"]), n_classes=spec["n_classes"],
                                            width=spec["width"], feature_dim=spec["feature_dim"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def save_reference(dataset: str, model: DomainClassifier, classifier_sha256: str, x: np.ndarray, y: np.ndarray) -> Path:
    stats = stream_features(model.features, x, len(x), 500).stats()
    path = reference_dir(dataset) / REFERENCE_FILE
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, mu=stats.mu, sigma=stats.sigma, n=stats.n, labels=y, classifier_sha256=classifier_sha256)
    return path


def load_classifier_reference(prepared_dir: Path, stats_dir: Path, dataset: str, manifest: dict) -> ClassifierReference:
    fix = f"rebuild with `dvc repro prepare@{dataset}`"
    classifier_path = prepared_dir / CLASSIFIER_FILE
    reference_path = stats_dir / REFERENCE_FILE
    for path in (classifier_path, reference_path):
        if not path.is_file():
            raise ReferenceError(f"{path} is missing; {fix}")
    sha = sha256_file(classifier_path)
    if sha != manifest["classifier"]["sha256"]:
        raise ReferenceError(f"{classifier_path} does not match its manifest; {fix}")
    with np.load(reference_path) as stats:
        if str(stats["classifier_sha256"]) != sha:
            raise ReferenceError(f"{reference_path} was computed with another classifier (stale); {fix}")
        real = FeatureStats(mu=stats["mu"], sigma=stats["sigma"], n=int(stats["n"]))
        labels = stats["labels"]
    return ClassifierReference(load_classifier(classifier_path), sha, real, labels, manifest["classifier"]["test_accuracy"])
