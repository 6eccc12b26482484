"""The 2-D mixtures ``ring8`` and ``grid25``: points drawn from equal-weight Gaussian mixtures (unconditional)."""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from pipeline.datasets.registry import Dataset, DatasetError, DataSettings, RawDataset, register_dataset

REFERENCE = "Metz et al. 2017 (Unrolled GANs); Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN)"


def mixture_modes(name: str) -> tuple[np.ndarray, float]:
    """Mode centres and the per-axis std of the 2-D benchmarks.

    ``ring8``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02;
    ``grid25``: a 5×5 grid at {-4, -2, 0, 2, 4}², std 0.05 (Metz et al. 2017,
    Unrolled GANs; Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).
    """
    if name == "ring8":
        angles = 2 * math.pi * np.arange(8) / 8
        return np.stack([2 * np.cos(angles), 2 * np.sin(angles)], axis=1), 0.02
    if name == "grid25":
        ticks = np.arange(-4.0, 5.0, 2.0)
        return np.array([(x, y) for x in ticks for y in ticks]), 0.05
    raise DatasetError(f"{name!r} is not a 2-D mixture")


def sample_mixture(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points from the equal-weight mixture, and the index of the mode each came from."""
    centres, std = mixture_modes(name)
    rng = np.random.default_rng(seed)
    labels = rng.integers(len(centres), size=n)
    points = centres[labels] + std * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels.astype(np.int64)


def load_mixture(name: str, data: DataSettings, seed: int = 0) -> RawDataset:
    """``data.n_points`` points of the mixture ``name`` (one training split), with their modes in ``info``."""
    points, labels = sample_mixture(name, data.n_points, seed)
    centres, std = mixture_modes(name)
    return RawDataset(name, "points", points, labels,
                      info={"modes": centres.tolist(), "std": std, "source": f"generated (seed {seed})"})


for _name in ("ring8", "grid25"):
    register_dataset(Dataset(_name, "points", ("unconditional",), partial(load_mixture, _name), provides=("x", "y"),
                             reference=REFERENCE))
