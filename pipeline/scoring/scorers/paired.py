"""Paired translation (x_A → x_B with known pairs, pix2pix, Isola et al. 2017): outputs against their targets.

Sample i is G's output for the test split's ``source[i mod n_test]`` (:mod:`pipeline.scoring.conditions`) and is
compared with ``x[i mod n_test]``:

* ``l1_error`` -- mean absolute error in [-1, 1] pixel units (pix2pix's L1; :mod:`analysis.pixel_error`);
* ``psnr`` -- per-image PSNR with data range 2, averaged over images (exact copies count as 100 dB);
* ``ssim`` -- per-image SSIM (Wang et al. 2004; Gaussian window 11, σ 1.5, on [0, 1]; :mod:`analysis.ssim`);
* ``fid_clf`` -- the classifier-space FID of the outputs to the real training targets, where the dataset has a
  domain classifier (:func:`pipeline.scoring.scorers.classifier.fid_to_real`).

**In training** paired-translation runs are ranked by ``l1_error`` (lower is better): computable on any paired
dataset, classifier or not, and the distance pix2pix trains and reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.pixel_error import DATA_RANGE, PSNR_CAP_DB, l1_per_image, mean_psnr
from analysis.ssim import K1, K2, SIGMA, WINDOW, ssim_per_image
from pipeline.config import EvalConfig
from pipeline.data.classifier import ClassifierReference
from pipeline.data.store import PreparedData
from pipeline.scoring.conditions import held_out_index
from pipeline.scoring.registry import MetricSpec, Scorer, finite_samples, register_scorer
from pipeline.scoring.scorers.classifier import (classifier_description, classifier_outputs, fid_to_real,
                                                 has_classifier, load_reference)


def similarity_protocol() -> dict[str, str]:
    """How PSNR and SSIM are computed (shared by the paired scorers)."""
    return {"psnr": f"per image 10 log10(R^2 / MSE), R = {DATA_RANGE:g} ([-1, 1] images), mean over images with "
                    f"each value capped at {PSNR_CAP_DB:g} dB (an exact copy's +inf counts as {PSNR_CAP_DB:g})",
            "ssim": f"Wang et al. 2004 on images rescaled to [0, 1]: Gaussian window {WINDOW}, sigma {SIGMA}, "
                    f"K1 {K1}, K2 {K2}, population moments, borders padded symmetrically and kept (the map's mean "
                    f"over every pixel), mean over channels, then over images"}


def optional_reference(prepared: PreparedData, reference_dir: Path) -> ClassifierReference | None:
    """The domain classifier where the dataset has one (its outputs' ``fid_clf``), else None."""
    return load_reference(prepared, reference_dir) if has_classifier(prepared) else None


class PairedScorer(Scorer):
    """Outputs of held-out sources against their targets (row i of the test split's ``source`` and ``x``)."""

    def __init__(self, n_samples: int, eval_config: EvalConfig, test_targets: np.ndarray,
                 reference: ClassifierReference | None, test_sha256: str) -> None:
        super().__init__(n_samples, eval_config)
        self.targets = test_targets[held_out_index(n_samples, len(test_targets))]
        self.n_test, self.test_sha256, self.reference = len(test_targets), test_sha256, reference

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return (prepared.kind == "images" and prepared.manifest.get("pairing") == "paired"
                and prepared.test_source is not None and prepared.test_x is not None)

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer:
        return cls(n_samples, eval_config, prepared.test_x, optional_reference(prepared, reference_dir),
                   prepared.manifest["splits"]["test"]["sha256"])

    def metric_names(self) -> list[str]:
        return [spec.base + self.suffix for spec in self.metrics if self.reference is not None or spec.base != "fid_clf"]

    def output_scores(self, samples: np.ndarray) -> dict[str, float]:
        """``psnr``, ``ssim`` (and ``fid_clf`` with a classifier) of the first ``n_samples`` outputs."""
        outputs, s = finite_samples(samples, self.n_samples), self.suffix
        metrics = {f"psnr{s}": mean_psnr(outputs, self.targets), f"ssim{s}": float(ssim_per_image(outputs, self.targets).mean())}
        if self.reference is not None:
            features, _ = classifier_outputs(self.reference, outputs, self.eval_config.batch_size)
            metrics[f"fid_clf{s}"] = fid_to_real(self.reference, features)
        return metrics

    def paired_protocol(self) -> dict[str, Any]:
        return {"n_generated": self.n_samples, "kind": self.name, "n_test": self.n_test, "test_sha256": self.test_sha256,
                "inputs": "the test split's sources in order, repeated: sample i from source[i mod n_test], scored "
                          "against x[i mod n_test]", **similarity_protocol(),
                **({"fid_clf": classifier_description(self.reference)} if self.reference is not None else {})}


@register_scorer
class PairedTranslationScorer(PairedScorer):
    name = "paired-translation"
    order = 300
    tasks = ("paired-translation",)
    metrics = (MetricSpec("l1_error", "min"), MetricSpec("psnr", "max"), MetricSpec("ssim", "max"),
               MetricSpec("fid_clf", "min"))
    in_training = ("paired-translation",)

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float]:
        l1 = float(l1_per_image(finite_samples(samples, self.n_samples), self.targets).mean())
        return {f"l1_error{self.suffix}": l1, **self.output_scores(samples)}

    def protocol(self) -> dict[str, Any]:
        return {**self.paired_protocol(),
                "l1_error": "mean absolute error over pixels, channels and images, in [-1, 1] units (pix2pix)"}
