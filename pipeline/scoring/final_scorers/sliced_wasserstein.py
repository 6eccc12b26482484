"""Sliced Wasserstein distance of generated images to the real training images on Laplacian-pyramid patches
(Karras et al. 2018, Sec. 5; :mod:`analysis.sliced_wasserstein`), per pyramid level and averaged.

``swd`` is the mean over levels of SWD ×10³ (lower is better, ranked); ``swd_<side>px`` the level of that side
(lower is better, kept in the metrics files, not in tables). The generated set is the first N samples, the real
set N training images drawn without replacement by a fixed seed, N = ``eval.n_samples`` or the training split's
size where that is smaller (the empirical distance depends on the set size, so both sets have the same, and the
metric names carry it). The levels of an image of side S run from S down to 8 × 8 (the paper's stop at 16 × 16
would leave nothing of our 8 × 8 images): 8 × 8 data has ``swd_8px`` alone, 32 × 32 data 32, 16 and 8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.sliced_wasserstein import (DIRECTIONS_PER_REPEAT, MIN_LEVEL_SIDE, NEIGHBOURHOOD,
                                         NEIGHBOURHOODS_PER_IMAGE, REPEATS, SCALE, level_sides,
                                         sliced_wasserstein_distance)
from pipeline.config import EvalConfig
from pipeline.data.store import PreparedData
from pipeline.scoring.registry import MetricSpec, Scorer, finite_samples, register_scorer

#: Seed of the real subset, the neighbourhood positions and the directions.
SWD_SEED = 2018
#: The largest side of ``data.image_size``: every level a dataset can have is a metric of the registry.
LARGEST_SIDE = 64


def level_metric(side: int) -> str:
    return f"swd_{side}px"


@register_scorer
class SlicedWassersteinScorer(Scorer):
    """SWD of the samples to the real training images (module docstring)."""

    name = "swd"
    order = 800
    tasks = ("unconditional", "class-conditional")
    metrics = (MetricSpec("swd", "min"),
               *(MetricSpec(level_metric(side), "min", shown=False) for side in level_sides(LARGEST_SIDE)))

    def __init__(self, n_samples: int, eval_config: EvalConfig, real: np.ndarray, n_train: int,
                 train_sha256: str) -> None:
        super().__init__(n_samples, eval_config)
        self.real, self.n_train, self.train_sha256 = real, n_train, train_sha256
        self.sides = level_sides(real.shape[-1])

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return prepared.kind == "images"

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig,
              n_samples: int) -> SlicedWassersteinScorer:
        train = prepared.train_x
        n = min(n_samples, len(train))
        chosen = np.sort(np.random.default_rng(SWD_SEED).choice(len(train), size=n, replace=False))
        return cls(n, eval_config, train[chosen], len(train), prepared.manifest["splits"]["train"]["sha256"])

    def metric_names(self) -> list[str]:
        return [f"swd{self.suffix}", *(f"{level_metric(side)}{self.suffix}" for side in self.sides)]

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float]:
        distance = sliced_wasserstein_distance(self.real, finite_samples(samples, self.n_samples), SWD_SEED)
        s = self.suffix
        levels = {f"{level_metric(side)}{s}": value for side, value in distance.levels.items()}
        return {f"swd{s}": distance.mean, **levels}

    def protocol(self) -> dict[str, Any]:
        return {"n_generated": self.n_samples, "n_real": self.n_samples, "kind": self.name,
                "real": f"{self.n_samples} of the {self.n_train} training images, drawn without replacement "
                        f"(seed {SWD_SEED})", "train_sha256": self.train_sha256,
                "levels": list(self.sides), "min_level_side": MIN_LEVEL_SIDE,
                "pyramid": "Laplacian, 5-tap binomial filter [1 4 6 4 1]/16, mirrored borders; the last level the "
                           "Gaussian residual",
                "neighbourhood": NEIGHBOURHOOD, "neighbourhoods_per_image": NEIGHBOURHOODS_PER_IMAGE,
                "descriptors": "each set normalised per channel by its own mean and std; both sets cut at the "
                               "same random positions",
                "repeats": REPEATS, "directions_per_repeat": DIRECTIONS_PER_REPEAT, "scale": SCALE, "seed": SWD_SEED,
                "what": "Karras et al. 2018 Sec. 5 (progressive_growing_of_gans metrics/sliced_wasserstein.py), "
                        "levels down to 8x8 instead of 16x16; swd is the mean over levels"}
