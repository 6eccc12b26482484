"""PSNR and SSIM on the luminance (Y of BT.601 YCbCr) of colour outputs of paired translation and super-resolution,
the measures of SR papers' tables (SRGAN, Ledig et al. 2017, Table 2 and Sec. 3.2; :mod:`analysis.luminance`),
beside the per-RGB-channel ``psnr`` / ``ssim`` of the task scorers (:mod:`pipeline.scoring.scorers.paired`).

Sample i is G's output for the test split's ``source[i mod n_test]`` and is compared with ``x[i mod n_test]``, as
the task scorers align them (:func:`pipeline.scoring.conditions.held_out_index`):

* ``psnr_y``, ``ssim_y`` -- PSNR (peak 255) and SSIM (``L = 255``) of Y in [16, 235], means over images;
* ``psnr_y_bicubic``, ``ssim_y_bicubic`` -- super-resolution only: the same of bicubic upsampling of the same
  inputs (:mod:`analysis.bicubic`), SRGAN's baseline row, computed once when the scorer is built.

Border (:func:`border_crop`): for super-resolution ``scale`` pixels are removed from each side before measuring, as
SRGAN removes a 4-pixel strip at ×4 and BasicSR crops ``crop_border = scale`` (the outermost pixels depend on how a
network pads, not on what it learned), when at least half the side remains (an image of side ``4·scale`` or more:
32 × 32 at ×4 keeps 24 × 24); smaller images are measured whole (8 × 8 at ×4 would keep nothing). Paired
translation is measured whole (pix2pix crops nothing). The protocol records the crop. Only data with three
channels (RGB) applies: a grey image's luminance is the image itself, which the task scorers already measure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.bicubic import bicubic_upsample
from analysis.luminance import BT601_Y, PEAK, Y_OFFSET, psnr_y, ssim_y
from analysis.pixel_error import PSNR_CAP_DB
from analysis.ssim import K1, K2, SIGMA, WINDOW
from pipeline.config import EvalConfig
from pipeline.data.store import PreparedData
from pipeline.scoring.conditions import held_out_index
from pipeline.scoring.registry import MetricSpec, Scorer, finite_samples, register_scorer

#: RGB: the only channel count whose luminance differs from the image.
RGB = 3


def border_crop(side: int, scale: int | None) -> int:
    """Pixels removed from each side of a ``side`` × ``side`` image (module docstring): ``scale`` for
    super-resolution when at least half the side remains, else 0; 0 for paired translation (``scale`` None)."""
    return scale if scale is not None and side - 2 * scale >= side / 2 else 0


@register_scorer
class LuminanceScorer(Scorer):
    """PSNR and SSIM of the outputs' luminance against their targets' (module docstring)."""

    name = "luminance"
    order = 450
    tasks = ("paired-translation", "super-resolution")
    metrics = (MetricSpec("psnr_y", "max"), MetricSpec("ssim_y", "max"), MetricSpec("psnr_y_bicubic", "max"),
               MetricSpec("ssim_y_bicubic", "max"))

    def __init__(self, n_samples: int, eval_config: EvalConfig, test_targets: np.ndarray, test_sha256: str,
                 test_sources: np.ndarray, scale: int | None) -> None:
        super().__init__(n_samples, eval_config)
        index = held_out_index(n_samples, len(test_targets))
        self.targets, self.n_test, self.scale = test_targets[index], len(test_targets), scale
        self.test_sha256 = test_sha256
        self.crop = border_crop(test_targets.shape[-1], scale)
        self.baseline: dict[str, float] = {}
        if scale is not None:
            upsampled = bicubic_upsample(test_sources[index], scale)
            self.baseline = {f"psnr_y_bicubic{self.suffix}": psnr_y(upsampled, self.targets, self.crop),
                             f"ssim_y_bicubic{self.suffix}": ssim_y(upsampled, self.targets, self.crop)}

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return (prepared.kind == "images" and prepared.manifest.get("pairing") == "paired"
                and prepared.test_source is not None and prepared.test_x is not None
                and prepared.test_x.shape[1] == RGB)

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer:
        scale = prepared.manifest.get("scale")
        return cls(n_samples, eval_config, prepared.test_x, prepared.manifest["splits"]["test"]["sha256"],
                   prepared.test_source, None if scale is None else int(scale))

    def metric_names(self) -> list[str]:
        bases = ["psnr_y", "ssim_y"] + (["psnr_y_bicubic", "ssim_y_bicubic"] if self.scale is not None else [])
        return [base + self.suffix for base in bases]

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float]:
        outputs, s = finite_samples(samples, self.n_samples), self.suffix
        return {f"psnr_y{s}": psnr_y(outputs, self.targets, self.crop),
                f"ssim_y{s}": ssim_y(outputs, self.targets, self.crop), **self.baseline}

    def protocol(self) -> dict[str, Any]:
        weights = " + ".join(f"{w:g} {c}" for w, c in zip(BT601_Y, "RGB"))
        return {"n_generated": self.n_samples, "kind": self.name, "n_test": self.n_test,
                "test_sha256": self.test_sha256,
                "inputs": "the test split's sources in order, repeated: sample i from source[i mod n_test], scored "
                          "against x[i mod n_test]",
                "luminance": f"Y = {Y_OFFSET:g} + {weights} on RGB in [0, 1] (ITU-R BT.601, MATLAB rgb2ycbcr), "
                             "in [16, 235], not rounded",
                "crop_border": self.crop,
                "crop_rule": "super-resolution: scale pixels from each side (SRGAN, BasicSR crop_border) when at "
                             "least half the side remains, else none; paired translation: none",
                "psnr_y": f"per image 10 log10({PEAK:g}^2 / MSE of Y), mean over images, each capped at "
                          f"{PSNR_CAP_DB:g} dB",
                "ssim_y": f"Wang et al. 2004 on Y with L = {PEAK:g}: Gaussian window {WINDOW}, sigma {SIGMA}, K1 {K1}, "
                          f"K2 {K2}, population moments, borders padded symmetrically and kept, mean over images",
                **({"scale": self.scale, "bicubic": "psnr_y_bicubic, ssim_y_bicubic: the same inputs upsampled by "
                    "Keys' cubic convolution (analysis.bicubic), measured the same way"} if self.scale else {})}
