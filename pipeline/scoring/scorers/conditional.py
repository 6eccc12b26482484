"""Class-conditional generators through the domain classifier: does G make the class it was asked for?

* ``class_acc`` -- the share of samples the domain classifier assigns to the class G was given (the
  "classification accuracy" of conditional GAN evaluations, e.g. AC-GAN, Odena et al. 2017, Sec. 4.2,
  here with the domain classifier, whose own held-out accuracy is in the protocol).
* ``intra_fid_clf`` -- the mean over classes of the classifier-space FID between the samples of one
  requested class and the real images of that class (intra-FID, Miyato & Koyama 2018, Sec. 4.1), and
  ``worst_class_fid_clf`` its largest per-class term (the class G serves worst). Left out (None) when a class
  has no more samples than feature dimensions: its covariance would be singular.

**In training** (best checkpoint, Tune objective) class-conditional runs are ranked by ``intra_fid_clf``: it is
low only when every class's samples look like that class's real images, so a generator that ignores its
labels ranks below one that follows them, which the unconditional ``fid_clf`` cannot see. When the balanced
request (sample i asks for class ``i mod K``) leaves a class with no more of the N samples than the classifier
has feature dimensions, or the real data lacks a class's statistics, intra-FID is not computable and runs are
ranked by ``class_acc`` instead (said in a warning and in the protocol's ``ranked_by``). With the default
``train.eval_samples`` 1000, 10 classes and ``classifier.feature_dim`` 64, each class has 100 > 64 samples.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from analysis.frechet import FeatureStats, frechet_distance
from pipeline.config import EvalConfig
from pipeline.data.classifier import ClassifierReference
from pipeline.data.store import PreparedData
from pipeline.scoring.conditions import balanced_labels
from pipeline.scoring.registry import MetricSpec, Scorer, register_scorer
from pipeline.scoring.scorers.classifier import DomainClassifierScorer, load_reference

log = logging.getLogger("ganlab.evaluate")


def per_class_fid(features: np.ndarray, labels: np.ndarray,
                  per_class: tuple[FeatureStats | None, ...]) -> list[float] | None:
    """Each class's Fréchet distance between its samples and its real images; None unless every class has
    full-rank statistics on both sides."""
    distances = []
    for label, real in enumerate(per_class):
        members = features[labels == label]
        if real is None or len(members) <= features.shape[1]:
            return None
        distances.append(frechet_distance(FeatureStats.of(members), real))
    return distances


def intra_fid_computable(labels: np.ndarray, reference: ClassifierReference) -> bool:
    """Whether samples carrying ``labels`` (their distinct rows) give every class more members than the classifier
    has feature dimensions, and the real data has every class's statistics."""
    counts = np.bincount(labels, minlength=len(reference.per_class))
    return all(real is not None for real in reference.per_class) and counts.min() > len(reference.real.mu)


class IntendedLabelScorer(DomainClassifierScorer):
    """Samples that should carry known labels: the share the classifier agrees with (``agreement_base``) and the
    intra-class FID, ranked by intra-FID where it is computable (see the module docstring)."""

    agreement_base: ClassVar[str]

    def __init__(self, n_samples: int, eval_config: EvalConfig, reference: ClassifierReference,
                 intra_fid_ranks: bool) -> None:
        super().__init__(n_samples, eval_config, reference)
        self.intra_fid_ranks = intra_fid_ranks

    @property
    def rank_base(self) -> str:
        return "intra_fid_clf" if self.intra_fid_ranks else self.agreement_base

    def fallback_warning(self) -> None:
        if not self.intra_fid_ranks:
            log.warning("%s runs are ranked by %s, not intra_fid_clf: with %d samples a class has no more distinct "
                        "samples than the %d feature dimensions, or no real statistics (more samples per class need "
                        "a larger train.eval_samples / tune.eval_samples, or for translations more test-split "
                        "sources)", self.name, self.agreement_base, self.n_samples, len(self.reference.real.mu))

    def label_scores(self, features: np.ndarray, logits: np.ndarray, intended: np.ndarray,
                     label: str) -> dict[str, float | None]:
        """``agreement_base``, ``intra_fid_clf`` and ``worst_class_fid_clf`` of samples whose labels should be
        ``intended``."""
        distances = per_class_fid(features, intended, self.reference.per_class)
        if distances is None:
            log.warning("%s: intra-class FID not computed: %d samples over %d classes leave a class with no more "
                        "samples than the %d feature dimensions", label, len(intended), len(self.reference.per_class),
                        features.shape[1])
        s = self.suffix
        return {f"{self.agreement_base}{s}": float((logits.argmax(axis=1) == intended).mean()),
                f"intra_fid_clf{s}": float(np.mean(distances)) if distances else None,
                f"worst_class_fid_clf{s}": float(np.max(distances)) if distances else None}

    def ranking_protocol(self) -> dict[str, str]:
        return {"ranked_by": self.rank_base if self.intra_fid_ranks else
                f"{self.agreement_base} (intra-FID not computable with {self.n_samples} samples)",
                "intra_fid": "mean over classes of the classifier-space FID to that class's real training images"}


@register_scorer
class ConditionalScorer(IntendedLabelScorer):
    name = "class-conditional"
    order = 200
    tasks = ("class-conditional",)
    metrics = (MetricSpec("class_acc", "max"), MetricSpec("intra_fid_clf", "min"), MetricSpec("worst_class_fid_clf", "min"))
    in_training = ("class-conditional",)
    agreement_base = "class_acc"

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer:
        reference = load_reference(prepared, reference_dir)
        requested = balanced_labels(n_samples, len(reference.per_class))
        scorer = cls(n_samples, eval_config, reference, intra_fid_computable(requested, reference))
        scorer.fallback_warning()
        return scorer

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float | None]:
        features, logits = self.outputs(samples)
        return self.label_scores(features, logits, conditions["y"][: self.n_samples], label)

    def protocol(self) -> dict[str, Any]:
        return {**self.classifier_protocol(), **self.ranking_protocol(),
                "requested_classes": "balanced: sample i asks for class i mod classes"}
