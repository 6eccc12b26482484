"""Pixel errors of generated images against their targets: L1 and PSNR, per image, for [-1, 1] images.

* L1 -- the mean absolute difference over pixels and channels, in [-1, 1] pixel units (the reconstruction term
  and the reported distance of pix2pix, Isola et al. 2017, Eq. 3).
* PSNR -- ``10 log10(R² / MSE)`` with the data range ``R = 2`` of [-1, 1] images and MSE over the pixels and
  channels of one image (Wang et al. 2004, Sec. I; SRGAN, Ledig et al. 2017, Table 2). An image identical to its
  target has MSE 0 and PSNR +inf; :func:`mean_psnr` averages per-image values with each capped at
  :data:`PSNR_CAP_DB`, so an exact copy counts as 100 dB and the mean stays finite and storable.
"""

from __future__ import annotations

import numpy as np

#: The data range of [-1, 1] images.
DATA_RANGE = 2.0
#: Per-image PSNR above this (an exact copy's +inf included) counts as this in :func:`mean_psnr`.
PSNR_CAP_DB = 100.0


def _pair(outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outputs, targets = np.asarray(outputs, dtype=np.float64), np.asarray(targets, dtype=np.float64)
    if outputs.shape != targets.shape or outputs.ndim < 2:
        raise ValueError(f"outputs {outputs.shape} and targets {targets.shape} must be equal-shaped batches (N, ...)")
    return outputs.reshape(len(outputs), -1), targets.reshape(len(targets), -1)


def l1_per_image(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mean absolute error of each image (N,)."""
    outputs, targets = _pair(outputs, targets)
    return np.abs(outputs - targets).mean(axis=1)


def psnr_per_image(outputs: np.ndarray, targets: np.ndarray, data_range: float = DATA_RANGE) -> np.ndarray:
    """``10 log10(data_range² / MSE)`` of each image (N,); +inf where an image equals its target."""
    outputs, targets = _pair(outputs, targets)
    mse = np.square(outputs - targets).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def mean_psnr(outputs: np.ndarray, targets: np.ndarray, data_range: float = DATA_RANGE) -> float:
    """The mean over images of the per-image PSNR, each capped at :data:`PSNR_CAP_DB` (see the module docstring)."""
    return float(np.minimum(psnr_per_image(outputs, targets, data_range), PSNR_CAP_DB).mean())
