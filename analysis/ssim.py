"""Structural similarity (SSIM; Wang, Bovik, Sheikh & Simoncelli 2004, Eq. 13) of images against their targets.

``SSIM(x, y) = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))`` with local statistics under an
11 × 11 Gaussian window of σ = 1.5 (the paper's Sec. III-C), ``C1 = (K1 L)²``, ``C2 = (K2 L)²``, K1 = 0.01,
K2 = 0.03, on images rescaled from [-1, 1] to [0, 1] (so L = 1); the variances and covariance are the window's
weighted moments (``E[x²] - E[x]²``, no sample correction). Borders: each image is padded by 5 pixels with its
mirror image including the edge pixel (numpy's "symmetric", scipy.ndimage's "reflect"), and the SSIM map is
averaged over **every** pixel -- skimage's ``structural_similarity`` computes the same map and then crops the
5-pixel border before averaging, which would leave nothing of an 8 × 8 image. An image's SSIM is the mean of its
channels' means; a batch's is the mean over images.
"""

from __future__ import annotations

import numpy as np

WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    """The normalised 1-D Gaussian taps (the 2-D window is their outer product)."""
    offsets = np.arange(size) - (size - 1) / 2
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    return taps / taps.sum()


def _local_mean(images: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean over the last two axes, borders padded symmetrically."""
    pad = len(taps) // 2
    padded = np.pad(images, [(0, 0)] * (images.ndim - 2) + [(pad, pad), (pad, pad)], mode="symmetric")
    rows = np.lib.stride_tricks.sliding_window_view(padded, len(taps), axis=-2) @ taps
    return np.lib.stride_tricks.sliding_window_view(rows, len(taps), axis=-1) @ taps


def ssim_map(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The SSIM map (N, C, H, W) of [-1, 1] images (N, C, H, W), see the module docstring."""
    x = (np.asarray(outputs, dtype=np.float64) + 1.0) / 2.0
    y = (np.asarray(targets, dtype=np.float64) + 1.0) / 2.0
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"outputs {x.shape} and targets {y.shape} must be equal-shaped (N, C, H, W) batches")
    taps = gaussian_window()
    mu_x, mu_y = _local_mean(x, taps), _local_mean(y, taps)
    var_x = _local_mean(x * x, taps) - mu_x**2
    var_y = _local_mean(y * y, taps) - mu_y**2
    cov = _local_mean(x * y, taps) - mu_x * mu_y
    c1, c2 = K1**2, K2**2
    return (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def ssim_per_image(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each image's SSIM (N,): the mean over its channels of the mean of the map over every pixel."""
    return ssim_map(outputs, targets).mean(axis=(2, 3)).mean(axis=1)
