"""Sample diversity as the mean MS-SSIM of random pairs of generated images (Odena et al. 2017, AC-GAN, Sec. 4.2;
:mod:`analysis.ms_ssim`), beside the same for pairs of real training images.

* ``ms_ssim`` -- the mean MS-SSIM of 1,000 random pairs of distinct samples among the first N;
* ``ms_ssim_real`` -- the same for 1,000 pairs of the training images (the whole split: the mean over random pairs
  estimates the MS-SSIM of two independent draws whatever the pool's size); in the metrics files, not in tables;
* ``ms_ssim_gap`` -- ``|ms_ssim - ms_ssim_real|``, ranked, lower is better.

Pairs are within a class when the samples were drawn given labels (the class-conditional task: pair k of class
``k mod K``, 100 pairs per class for K = 10, Odena et al.'s 100), and then the real pairs are within the same
classes of the training labels; otherwise (unconditional) pairs are of any two images, on both sides.

Why the gap is what is ranked: a low MS-SSIM means diverse samples, a high one mode collapse (Odena et al. flag
classes whose generated MS-SSIM exceeds the real data's), but noise-like samples have an MS-SSIM below the real
data's, and lower is not better beyond it. The honest target is the real data's own value; ``ms_ssim`` itself is
shown unranked beside it, so the sign of the gap stays readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.ms_ssim import PAPER_WEIGHTS, SIGMA, WINDOW, mean_pairwise_ms_ssim, scale_count, scale_weights
from analysis.ssim import K1, K2
from pipeline.config import EvalConfig
from pipeline.data.store import PreparedData
from pipeline.scoring.registry import MetricSpec, Scorer, finite_samples, register_scorer

#: Pairs per measurement: Odena et al.'s 100 per class for 10 classes.
PAIRS = 1000
#: Seed of the pairs (the generated and the real ones).
MS_SSIM_SEED = 2017


@register_scorer
class MsSsimScorer(Scorer):
    """Mean pairwise MS-SSIM of the samples and of the real images, and their gap (module docstring)."""

    name = "ms_ssim"
    order = 900
    tasks = ("unconditional", "class-conditional")
    metrics = (MetricSpec("ms_ssim_gap", "min"), MetricSpec("ms_ssim"), MetricSpec("ms_ssim_real", shown=False))

    def __init__(self, n_samples: int, eval_config: EvalConfig, train_x: np.ndarray, train_y: np.ndarray | None,
                 train_sha256: str) -> None:
        super().__init__(n_samples, eval_config)
        self.train_x, self.train_y, self.train_sha256 = train_x, train_y, train_sha256
        self._real: dict[bool, float] = {}

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return prepared.kind == "images"

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig,
              n_samples: int) -> MsSsimScorer:
        return cls(n_samples, eval_config, prepared.train_x, prepared.train_y,
                   prepared.manifest["splits"]["train"]["sha256"])

    def real_value(self, within_class: bool) -> float:
        """The training images' mean pairwise MS-SSIM (within their classes or not), computed once."""
        if within_class not in self._real:
            if within_class and self.train_y is None:
                raise ValueError("samples drawn given labels need labelled training images for within-class pairs")
            labels = self.train_y if within_class else None
            self._real[within_class] = mean_pairwise_ms_ssim(self.train_x, labels, PAIRS, MS_SSIM_SEED)
        return self._real[within_class]

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float]:
        labels = conditions["y"][: self.n_samples] if "y" in conditions else None
        generated = mean_pairwise_ms_ssim(finite_samples(samples, self.n_samples), labels, PAIRS, MS_SSIM_SEED)
        real, s = self.real_value(labels is not None), self.suffix
        return {f"ms_ssim_gap{s}": abs(generated - real), f"ms_ssim{s}": generated, f"ms_ssim_real{s}": real}

    def protocol(self) -> dict[str, Any]:
        side = self.train_x.shape[-1]
        count = scale_count(side)
        return {"n_generated": self.n_samples, "n_real": len(self.train_x), "kind": self.name,
                "train_sha256": self.train_sha256, "pairs": PAIRS, "seed": MS_SSIM_SEED,
                "pairing": "within a class when samples are drawn given labels (pair k of class k mod K, the real "
                           "pairs within the training labels' classes), else any two distinct images",
                "scales": count, "weights": [round(float(w), 6) for w in scale_weights(count)],
                "paper_weights": list(PAPER_WEIGHTS), "window": WINDOW, "sigma": round(SIGMA, 6), "K1": K1, "K2": K2,
                "what": "Wang et al. 2003 MS-SSIM with fewer scales (coarsest at least the window wide), the "
                        "paper's first weights renormalised and a 7-tap window, on images in [0, 1]; 2x2 average "
                        "downsampling; mean over channels; ms_ssim_gap = |generated - real| (Odena et al. 2017)"}
