"""The domain classifier and its real-data statistics, as ``prepare`` writes them.

``data/prepared/<dataset>/classifier.pt`` holds the classifier; its statistics of the real
training images -- feature mean/covariance overall and per class, and the label histogram --
go through the feature-statistics cache (:mod:`pipeline.common.feature_cache`) into
``data/reference/<dataset>/classifier-<key>.npz``, keyed by a protocol that names the
classifier's sha256 and the training split's sha256, so statistics of another classifier or
other data cannot be read. Unpaired data has statistics of each domain: ``real_split`` ``train``
(the ``x`` domain) and ``train_source`` (the ``source`` domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis.classifier import ClassifierSpec, DomainClassifier
from analysis.features import stream_features
from analysis.frechet import FeatureStats
from pipeline.common.digest import sha256_file
from pipeline.common.feature_cache import FeatureCache
from pipeline.common.files import atomic_path, reason
from pipeline.common.layout import reference_dir
from pipeline.data.store import PreparedData

CLASSIFIER_FILE = "classifier.pt"
EXTRACTOR = "domain-classifier"
#: The real images a statistics file describes → the key of their row count in the manifest's train split.
REAL_SPLITS = {"train": "n", "train_source": "n_source"}
#: ... → the name of their statistics files (neither name's pattern matches the other's files).
CACHE_NAMES = {"train": "classifier", "train_source": "source-classifier"}


class ClassifierFileError(RuntimeError):
    """A classifier file that is missing, damaged or not the one its manifest names."""


@dataclass(frozen=True)
class ClassifierReference:
    model: DomainClassifier
    sha256: str
    real: FeatureStats
    real_labels: np.ndarray
    test_accuracy: float
    #: Per-class statistics of the real features (None for a class with too few images for a full-rank covariance).
    per_class: tuple[FeatureStats | None, ...] = ()


def _rebuild(dataset: str) -> str:
    return f"rebuild with `dvc repro prepare@{dataset}`"


def classifier_cache(folder: Path, dataset: str, real_split: str = "train") -> FeatureCache:
    """The statistics file of one real split: ``classifier-<key>.npz``, ``source-classifier-<key>.npz``."""
    return FeatureCache(folder, CACHE_NAMES[real_split], _rebuild(dataset))


def reference_protocol(classifier_sha256: str, train_sha256: str, n_real: int, real_split: str = "train") -> dict[str, Any]:
    """What the classifier's real statistics depend on (``real_split``: ``train``, the ``x`` images of the training
    split; ``train_source``, its ``source`` images)."""
    return {"extractor": EXTRACTOR, "classifier_sha256": classifier_sha256, "real_split": real_split,
            "real_sha256": train_sha256, "n_real": n_real}


def save_classifier(model: DomainClassifier, spec: ClassifierSpec, path: Path) -> str:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a file object: the archive is not named after tmp
        torch.save({"spec": spec.as_dict(), "state_dict": model.state_dict()}, handle)
    return sha256_file(path)


def load_classifier(path: Path, dataset: str) -> DomainClassifier:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        spec = payload["spec"]
        model = DomainClassifier(ClassifierSpec(image_shape=tuple(spec["image_shape"]), n_classes=spec["n_classes"],
                                                width=spec["width"], feature_dim=spec["feature_dim"]))
        model.load_state_dict(payload["state_dict"])
    except Exception as err:  # torch raises OSError, RuntimeError, UnpicklingError, KeyError… for damaged files
        raise ClassifierFileError(f"domain classifier {path} cannot be read ({reason(err)}); "
                                  f"{_rebuild(dataset)}") from err
    return model.eval()


def save_reference(dataset: str, model: DomainClassifier, classifier_sha256: str, train_sha256: str, x: np.ndarray,
                   y: np.ndarray, real_split: str = "train") -> Path:
    """The classifier's statistics of the real training images (``real_split``), overall and per class (for
    intra-class FID)."""
    features = stream_features(model.features, x, len(x), 500).features
    stats = FeatureStats.of(features)
    n_classes = int(y.max()) + 1
    dim = features.shape[1]
    class_mu, class_sigma = np.zeros((n_classes, dim)), np.zeros((n_classes, dim, dim))
    class_n = np.bincount(y, minlength=n_classes)
    for label in range(n_classes):
        if class_n[label] > dim:
            class_stats = FeatureStats.of(features[y == label])
            class_mu[label], class_sigma[label] = class_stats.mu, class_stats.sigma
    protocol = reference_protocol(classifier_sha256, train_sha256, len(x), real_split)
    return classifier_cache(reference_dir(dataset), dataset, real_split).save(protocol, {"mu": stats.mu, "sigma": stats.sigma, "n": np.asarray(stats.n),
                                                     "labels": y, "class_mu": class_mu, "class_sigma": class_sigma,
                                                     "class_n": class_n})


class FeatureNetwork(nn.Module):
    """The domain classifier's feature layer as a frozen network (images → features), for families that train with
    it (:attr:`models.family.Family.uses_feature_network`)."""

    def __init__(self, classifier: DomainClassifier) -> None:
        super().__init__()
        self.classifier = classifier.requires_grad_(False)
        super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images)

    def train(self, mode: bool = True) -> FeatureNetwork:
        return super().train(False)  # frozen: BatchNorm and dropout stay in evaluation mode


def feature_network(prepared: PreparedData, device: torch.device) -> FeatureNetwork:
    """The prepared dataset's domain classifier, checked against the sha256 its manifest (and so the run key)
    names, as a :class:`FeatureNetwork` on ``device``."""
    path = Path(prepared.directory) / CLASSIFIER_FILE
    if "classifier" not in prepared.manifest or not path.is_file():
        raise ClassifierFileError(f"{prepared.dataset} has no domain classifier ({path}): only labelled image data "
                                  "has one")
    if sha256_file(path) != prepared.manifest["classifier"]["sha256"]:
        raise ClassifierFileError(f"{path} does not match its manifest; {_rebuild(prepared.dataset)}")
    return FeatureNetwork(load_classifier(path, prepared.dataset)).to(device)


def load_classifier_reference(prepared_directory: Path, reference_directory: Path, dataset: str,
                              manifest: dict[str, Any], real_split: str = "train") -> ClassifierReference:
    """The classifier of a prepared dataset and its statistics of the real images of ``real_split`` (in
    ``reference_directory``; ``train_source``: an unpaired dataset's source domain), both checked against the
    manifest."""
    classifier_path = Path(prepared_directory) / CLASSIFIER_FILE
    if not classifier_path.is_file():
        raise ClassifierFileError(f"{classifier_path} is missing; {_rebuild(dataset)}")
    sha = sha256_file(classifier_path)
    if sha != manifest["classifier"]["sha256"]:
        raise ClassifierFileError(f"{classifier_path} does not match its manifest; {_rebuild(dataset)}")
    train = manifest["splits"]["train"]
    protocol = reference_protocol(sha, train["sha256"], train[REAL_SPLITS[real_split]], real_split)
    arrays = classifier_cache(reference_directory, dataset, real_split).load(protocol)
    real = FeatureStats(mu=arrays["mu"], sigma=arrays["sigma"], n=int(arrays["n"]))
    per_class = tuple(FeatureStats(mu, sigma, int(n)) if n > len(mu) else None
                      for mu, sigma, n in zip(arrays["class_mu"], arrays["class_sigma"], arrays["class_n"]))
    return ClassifierReference(load_classifier(classifier_path, dataset), sha, real, arrays["labels"],
                               manifest["classifier"]["test_accuracy"], per_class)

