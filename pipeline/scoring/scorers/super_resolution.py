"""Super-resolution (low-res → high-res; SRGAN, Ledig et al. 2017): outputs against the original images.

Sample i is G's output for the test split's low-resolution ``source[i mod n_test]`` and is compared with the
original ``x[i mod n_test]`` (:mod:`pipeline.scoring.conditions`):

* ``psnr``, ``ssim`` -- as for paired translation (:mod:`pipeline.scoring.scorers.paired`);
* ``fid_clf`` -- the classifier-space FID of the outputs, where the dataset has a domain classifier;
* ``psnr_bicubic``, ``ssim_bicubic`` -- the same measures of bicubic upsampling of the same inputs
  (:mod:`analysis.bicubic`), the baseline row of SRGAN's Table 2: the same for every generator of a dataset,
  computed once when the scorer is built.

**In training** super-resolution runs are ranked by ``psnr`` (higher is better), the first measure of SRGAN's
tables and computable on any low/high-resolution pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.bicubic import bicubic_upsample
from analysis.pixel_error import mean_psnr
from analysis.ssim import ssim_per_image
from pipeline.config import EvalConfig
from pipeline.data.classifier import ClassifierReference
from pipeline.data.store import PreparedData
from pipeline.scoring.conditions import held_out_index
from pipeline.scoring.registry import MetricSpec, Scorer, register_scorer
from pipeline.scoring.scorers.paired import PairedScorer, optional_reference


@register_scorer
class SuperResolutionScorer(PairedScorer):
    name = "super-resolution"
    order = 400
    tasks = ("super-resolution",)
    metrics = (MetricSpec("psnr", "max"), MetricSpec("ssim", "max"), MetricSpec("fid_clf", "min"),
               MetricSpec("psnr_bicubic", "max"), MetricSpec("ssim_bicubic", "max"))
    in_training = ("super-resolution",)

    def __init__(self, n_samples: int, eval_config: EvalConfig, test_targets: np.ndarray,
                 reference: ClassifierReference | None, test_sha256: str, test_sources: np.ndarray, scale: int) -> None:
        super().__init__(n_samples, eval_config, test_targets, reference, test_sha256)
        self.scale = scale
        upsampled = bicubic_upsample(test_sources[held_out_index(n_samples, len(test_sources))], scale)
        self.baseline = {f"psnr_bicubic{self.suffix}": mean_psnr(upsampled, self.targets),
                         f"ssim_bicubic{self.suffix}": float(ssim_per_image(upsampled, self.targets).mean())}

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return super().applies(prepared, eval_config) and prepared.manifest.get("scale") is not None

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer:
        return cls(n_samples, eval_config, prepared.test_x, optional_reference(prepared, reference_dir),
                   prepared.manifest["splits"]["test"]["sha256"], prepared.test_source, int(prepared.manifest["scale"]))

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float]:
        return {**self.output_scores(samples), **self.baseline}

    def protocol(self) -> dict[str, Any]:
        return {**self.paired_protocol(), "scale": self.scale,
                "bicubic": "psnr_bicubic, ssim_bicubic: the same inputs upsampled by Keys' cubic convolution "
                           "(a = -0.5, half-pixel centres, outside taps dropped and weights renormalised; torch "
                           "interpolate 'bicubic', align_corners False, antialias True), clipped to [-1, 1]"}
