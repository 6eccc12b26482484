"""Labelled images through the domain classifier: classifier-space FID (``fid_clf``), classes covered, the KL
of the predicted class histogram to the real one, and an Inception-Score-style score from the classifier's
logits (``is_clf``; as Ray's PBT-DCGAN MNIST example does) -- labelled as such, never called IS.

The in-training metric of unconditional image runs is ``fid_clf``. :func:`fid_to_real` and
:func:`classifier_description` are the classifier-space FID every task's scorer reports for its outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.class_metrics import class_scores
from analysis.features import stream_features
from analysis.frechet import FeatureStats, frechet_distance
from analysis.inception_score import inception_score
from pipeline.config import EvalConfig
from pipeline.data.classifier import ClassifierReference, load_classifier_reference
from pipeline.data.store import PreparedData
from pipeline.scoring.registry import MetricSpec, Scorer, finite_samples, register_scorer

#: Seed of the shuffle before the Inception Score's splits (torch-fidelity's default).
IS_SEED = 2020


def classifier_outputs(reference: ClassifierReference, samples: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of the samples under the domain classifier."""
    model = reference.model
    features = stream_features(model.features, samples, len(samples), batch_size).features
    with torch.inference_mode():
        logits = model.head(torch.relu(torch.as_tensor(features))).numpy()
    return features, logits


def fid_to_real(reference: ClassifierReference, features: np.ndarray) -> float:
    """Classifier-space FID: the Fréchet distance (Heusel et al. 2017, Eq. 6) between Gaussians fitted to the
    samples' classifier features and to the real training images'."""
    return frechet_distance(FeatureStats.of(features), reference.real)


def load_reference(prepared: PreparedData, reference_dir: Path) -> ClassifierReference:
    """The dataset's domain classifier with its real statistics (of the domain ``prepared.real_split`` names)."""
    return load_classifier_reference(Path(prepared.directory), reference_dir, prepared.dataset, prepared.manifest,
                                     prepared.real_split)


def has_classifier(prepared: PreparedData) -> bool:
    return prepared.kind == "images" and "classifier" in prepared.manifest


def classifier_description(reference: ClassifierReference) -> dict[str, Any]:
    """The classifier-space FID's extractor, as every scorer's protocol states it."""
    accuracy, dim = reference.test_accuracy, len(reference.real.mu)
    return {"extractor": "domain-classifier", "extractor_sha256": reference.sha256, "classifier_test_accuracy": accuracy,
            "what": f"Fréchet distances in the {dim}-d penultimate features of a small CNN trained here on this "
                    f"dataset's training split (test accuracy {accuracy:.1%}), real statistics from the training "
                    f"split; not comparable with Inception FID or with other datasets' values"}


class DomainClassifierScorer(Scorer):
    """A scorer that measures through the dataset's domain classifier (labelled images)."""

    def __init__(self, n_samples: int, eval_config: EvalConfig, reference: ClassifierReference) -> None:
        super().__init__(n_samples, eval_config)
        self.reference = reference

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return has_classifier(prepared)

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer:
        return cls(n_samples, eval_config, load_reference(prepared, reference_dir))

    def outputs(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, logits) of the first ``n_samples`` samples; diverged samples are an error."""
        return classifier_outputs(self.reference, finite_samples(samples, self.n_samples), self.eval_config.batch_size)

    def classifier_protocol(self) -> dict[str, Any]:
        return {"n_generated": self.n_samples, "kind": self.name, **classifier_description(self.reference)}


@register_scorer
class ClassifierScorer(DomainClassifierScorer):
    name = "classifier"
    order = 100
    tasks = ("unconditional", "class-conditional")
    metrics = (MetricSpec("fid_clf", "min"), MetricSpec("classes", "max"), MetricSpec("class_kl", "min"),
               MetricSpec("is_clf", "max"), MetricSpec("is_clf_std", shown=False))
    in_training = ("unconditional",)
    tune_base = "fid_clf"
    coverage_base = "classes"

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float]:
        s, cfg = self.suffix, self.eval_config
        features, logits = self.outputs(samples)
        classes = class_scores(logits.argmax(axis=1), self.reference.real_labels, logits.shape[1], self.min_samples)
        score = inception_score(logits, cfg.is_splits, IS_SEED)
        return {f"fid_clf{s}": fid_to_real(self.reference, features),
                f"classes{s}": classes["classes_covered"], f"class_kl{s}": classes["class_kl"],
                f"is_clf{s}": score.mean, f"is_clf_std{s}": score.std}

    def protocol(self) -> dict[str, Any]:
        cfg = self.eval_config
        return {**self.classifier_protocol(), "n_real": self.reference.real.n,
                "coverage_rule": f"class covered with >= {self.min_samples} of {self.n_samples} predictions",
                "inception_score": f"is_clf: Inception Score computed with the domain classifier's logits "
                                   f"(not Inception's), {cfg.is_splits} splits, shuffle seed {IS_SEED}"}
