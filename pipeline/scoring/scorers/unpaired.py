"""Unpaired translation (A → B without pairs, CycleGAN, Zhu et al. 2017): do outputs keep their source's label and
look like domain B?

Sample i is G's output for the test split's domain-A image ``source[i mod n_test]`` (:mod:`pipeline.scoring.conditions`)
and should keep its label ``source_y[i mod n_test]``:

* ``label_preservation`` -- the share of outputs the domain classifier (trained on both domains' labels) assigns
  the source image's label (as CycleGAN's FCN score checks that a translation keeps its labels, Sec. 5.1.1);
* ``intra_fid_clf`` -- the mean over labels of the classifier-space FID between the outputs of one source label
  and domain B's real images of that label (intra-FID, Miyato & Koyama 2018, with the source's label as the class),
  and ``worst_class_fid_clf`` its largest term;
* ``fid_clf`` -- the classifier-space FID of all outputs to domain B's real training images;
* ``cycle_error`` -- for a family with a B→A sampler (:class:`models.family.SamplerSpec` ``reverse``), the mean L1
  between each source image and its round trip A→B→A (:func:`analysis.cycle.cycle_error`; CycleGAN's Eq. 2 on
  held-out images). The evaluate stage draws the round trip and passes it as the condition ``cycled``; without
  one (the in-training metric, a family with one direction) it is not measured.

**In training** unpaired-translation runs are ranked by ``intra_fid_clf``, low only for outputs that both look
like domain B and keep their labels (an identity map keeps labels but stays in A; a generator that ignores its
input looks like B but loses them); where the test split has no more distinct sources of some label than the
classifier has feature dimensions, by ``label_preservation`` (a warning and the protocol's ``ranked_by`` say so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.cycle import cycle_error

from pipeline.config import EvalConfig
from pipeline.data.classifier import ClassifierReference
from pipeline.data.store import PreparedData
from pipeline.scoring.conditions import held_out_index
from pipeline.scoring.registry import MetricSpec, Scorer, register_scorer
from pipeline.scoring.scorers.classifier import fid_to_real, has_classifier, load_reference
from pipeline.scoring.scorers.conditional import IntendedLabelScorer, intra_fid_computable


@register_scorer
class UnpairedTranslationScorer(IntendedLabelScorer):
    name = "unpaired-translation"
    order = 500
    tasks = ("unpaired-translation",)
    metrics = (MetricSpec("label_preservation", "max"), MetricSpec("intra_fid_clf", "min"),
               MetricSpec("worst_class_fid_clf", "min"), MetricSpec("fid_clf", "min"),
               MetricSpec("cycle_error", "min"))
    in_training = ("unpaired-translation",)
    agreement_base = "label_preservation"

    def __init__(self, n_samples: int, eval_config: EvalConfig, reference: ClassifierReference,
                 test_source_y: np.ndarray) -> None:
        distinct = test_source_y[: min(n_samples, len(test_source_y))]
        super().__init__(n_samples, eval_config, reference, intra_fid_computable(distinct, reference))
        self.source_labels = test_source_y[held_out_index(n_samples, len(test_source_y))]
        self.n_test = len(test_source_y)

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return (has_classifier(prepared) and prepared.manifest.get("pairing") == "unpaired"
                and prepared.test_source is not None and prepared.test_source_y is not None)

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer:
        scorer = cls(n_samples, eval_config, load_reference(prepared, reference_dir), prepared.test_source_y)
        scorer.fallback_warning()
        return scorer

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float | None]:
        features, logits = self.outputs(samples)
        cycled = conditions.get("cycled")
        cycle = None if cycled is None else cycle_error(conditions["source"][: self.n_samples], cycled[: self.n_samples])
        return {**self.label_scores(features, logits, self.source_labels, label),
                f"fid_clf{self.suffix}": fid_to_real(self.reference, features), f"cycle_error{self.suffix}": cycle}

    def protocol(self) -> dict[str, Any]:
        return {**self.classifier_protocol(), **self.ranking_protocol(), "n_test": self.n_test,
                "inputs": "the test split's domain-A images in order, repeated: sample i translates source[i mod "
                          "n_test] and should keep source_y[i mod n_test]",
                "real": "domain B (the prepared x) of the training split"}
