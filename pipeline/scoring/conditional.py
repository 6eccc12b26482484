"""Class-conditional generators through the domain classifier: does G make the class it was asked for?

* ``class_acc`` -- the share of samples the domain classifier assigns to the class G was given (the
  "classification accuracy" of conditional GAN evaluations, e.g. AC-GAN, Odena et al. 2017, Sec. 4.2,
  here with the domain classifier, whose own held-out accuracy is in the protocol).
* ``intra_fid_clf`` -- the mean over classes of the classifier-space FID between the samples of one
  requested class and the real images of that class (intra-FID, Miyato & Koyama 2018, Sec. 4.1). Left out
  (None) when a class has no more samples than feature dimensions: its covariance would be singular.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from analysis.frechet import FeatureStats, frechet_distance
from pipeline.scoring.classifier import DomainClassifierScorer
from pipeline.scoring.registry import MetricSpec, register_scorer

log = logging.getLogger("ganlab.evaluate")


def intra_class_fid(features: np.ndarray, labels: np.ndarray, per_class: tuple[FeatureStats | None, ...]) -> float | None:
    """Mean per-class Fréchet distance; None unless every class has full-rank statistics on both sides."""
    distances = []
    for label, real in enumerate(per_class):
        members = features[labels == label]
        if real is None or len(members) <= features.shape[1]:
            return None
        distances.append(frechet_distance(FeatureStats.of(members), real))
    return float(np.mean(distances))


@register_scorer
class ConditionalScorer(DomainClassifierScorer):
    name = "class-conditional"
    tasks = ("class-conditional",)
    metrics = (MetricSpec("class_acc", "max"), MetricSpec("intra_fid_clf", "min"))

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float | None]:
        requested = conditions["y"][: self.n_samples]
        features, logits = self.outputs(samples)
        intra = intra_class_fid(features, requested, self.reference.per_class)
        if intra is None:
            log.warning("%s: intra-class FID not computed: %d samples over %d classes leave a class with no more "
                        "samples than the %d feature dimensions", label, len(requested), len(self.reference.per_class),
                        features.shape[1])
        s = self.suffix
        return {f"class_acc{s}": float((logits.argmax(axis=1) == requested).mean()), f"intra_fid_clf{s}": intra}

    def protocol(self) -> dict[str, Any]:
        return {**self.classifier_protocol(),
                "requested_classes": "balanced: sample i asks for class i mod classes",
                "intra_fid": "mean over classes of the classifier-space FID to that class's real training images"}
