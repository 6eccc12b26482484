"""Multi-scale SSIM (Wang, Simoncelli & Bovik 2003, Eq. 7) and the mean MS-SSIM of random pairs of a set's images,
the diversity measure of Odena, Olah & Shlens 2017 (AC-GAN, Sec. 4.2: lower means more diverse).

``MS-SSIM(x, y) = l_M^{w_M} · Π_{j=1..M} cs_j^{w_j}``: at scale 1 the images themselves, at scale j + 1 the images
of scale j averaged over 2 × 2 blocks and subsampled by 2 (the paper's low-pass filter and downsampling, as its
MATLAB code and ``tf.image.ssim_multiscale``); ``cs_j`` is the mean over the image of the contrast-structure map
``(2 σxy + C2) / (σx² + σy² + C2)`` at scale j, and the last factor the mean of the full SSIM map
``l · cs`` at scale M (``l = (2 μx μy + C1) / (μx² + μy² + C1)``), as ``tf.image.ssim_multiscale`` and
``pytorch_msssim`` combine them; a negative mean is clipped to 0 before the power (they do the same). Local
statistics, constants and borders are :mod:`analysis.ssim`'s: images rescaled from [-1, 1] to [0, 1] (L = 1),
K1 = 0.01, K2 = 0.03, population moments under a Gaussian window, borders padded symmetrically and the maps
averaged over every pixel. An image's value is the mean over its channels of each channel's MS-SSIM.

Small images: the paper uses 5 scales, weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)`` (Sec. 3.2), and the
11-tap window of σ = 1.5, so images of at least 176 pixels (the coarsest scale as wide as the window). Ours are
8 × 8 to 64 × 64, so the window shrinks to 7 taps with σ scaled alike, ``1.5 × 7 / 11 ≈ 0.95`` (7 taps are the
Gaussian truncated at 3.5 σ, as scikit-image's SSIM truncates), and there are as many scales as keep the coarsest
at least as wide as the window, at most 5: 8 × 8 → 1 (plain SSIM), 16 × 16 → 2, 32 × 32 → 3, 64 × 64 → 4. The
weights are the paper's first ``M`` (finest first: scale j is the same relative scale as the paper's j),
renormalised to sum to 1, as the paper's five do.
"""

from __future__ import annotations

import numpy as np

from analysis.ssim import K1, K2, SIGMA as SSIM_SIGMA, WINDOW as SSIM_WINDOW, _local_mean, gaussian_window

#: Wang et al. 2003, Sec. 3.2: β1..β5 = γ1..γ5 and α5, finest scale first.
PAPER_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 7
SIGMA = SSIM_SIGMA * WINDOW / SSIM_WINDOW


def scale_count(side: int) -> int:
    """Scales of ``side`` × ``side`` images: halving while the next scale is still at least :data:`WINDOW` wide,
    at most 5."""
    if side < WINDOW:
        raise ValueError(f"images of side {side} are narrower than the {WINDOW}-tap SSIM window")
    count = 1
    while count < len(PAPER_WEIGHTS) and side >> count >= WINDOW:
        count += 1
    return count


def scale_weights(count: int) -> np.ndarray:
    """The paper's first ``count`` weights renormalised to sum to 1."""
    weights = np.asarray(PAPER_WEIGHTS[:count])
    return weights / weights.sum()


def similarity_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The luminance map ``l`` and the contrast-structure map ``cs`` of two equal-shaped [0, 1] batches
    (N, C, H, W), under the :data:`WINDOW`-tap Gaussian window of σ = :data:`SIGMA`."""
    taps = gaussian_window(WINDOW, SIGMA)
    mu_x, mu_y = _local_mean(x, taps), _local_mean(y, taps)
    var_x = _local_mean(x * x, taps) - mu_x**2
    var_y = _local_mean(y * y, taps) - mu_y**2
    cov = _local_mean(x * y, taps) - mu_x * mu_y
    c1, c2 = K1**2, K2**2
    return (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1), (2 * cov + c2) / (var_x + var_y + c2)


def downsample(images: np.ndarray) -> np.ndarray:
    """The mean of every 2 × 2 block (an odd last row or column is dropped)."""
    n, c, h, w = images.shape
    return images[:, :, : h - h % 2, : w - w % 2].reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def scale_values(x: np.ndarray, y: np.ndarray, count: int) -> list[np.ndarray]:
    """The (N, C) factors of the product before their powers: ``mean cs_j`` for j < M, ``mean l·cs`` at M."""
    values = []
    for scale in range(count):
        luminance, contrast_structure = similarity_maps(x, y)
        if scale == count - 1:
            values.append((luminance * contrast_structure).mean(axis=(2, 3)))
        else:
            values.append(contrast_structure.mean(axis=(2, 3)))
            x, y = downsample(x), downsample(y)
    return values


def ms_ssim(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each image pair's MS-SSIM (N,) of [-1, 1] batches (N, C, H, W) (module docstring)."""
    x = (np.asarray(outputs, dtype=np.float64) + 1.0) / 2.0
    y = (np.asarray(targets, dtype=np.float64) + 1.0) / 2.0
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"outputs {x.shape} and targets {y.shape} must be equal-shaped (N, C, H, W) batches")
    count = scale_count(min(x.shape[-2:]))
    factors = [np.maximum(value, 0.0) ** weight
               for value, weight in zip(scale_values(x, y, count), scale_weights(count))]
    return np.prod(factors, axis=0).mean(axis=1)


def random_pairs(n: int, labels: np.ndarray | None, count: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` pairs of distinct indices of ``n`` items, uniformly at random; with ``labels``, pair k is of two
    items of the k-th class in turn (classes in sorted order), so every class gets ``count / K`` pairs."""
    if labels is None:
        return _distinct_pairs(np.arange(n), count, rng)
    labels = np.asarray(labels)[:n]
    classes = np.unique(labels)
    first, second = np.empty(count, dtype=np.int64), np.empty(count, dtype=np.int64)
    for index, label in enumerate(classes):
        slots = np.arange(index, count, len(classes))
        first[slots], second[slots] = _distinct_pairs(np.flatnonzero(labels == label), len(slots), rng)
    return first, second


def _distinct_pairs(members: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if len(members) < 2:
        raise ValueError(f"a pair needs two distinct items; a class has {len(members)}")
    first = rng.integers(len(members), size=count)
    second = rng.integers(len(members) - 1, size=count)
    return members[first], members[second + (second >= first)]


def mean_pairwise_ms_ssim(images: np.ndarray, labels: np.ndarray | None, pairs: int, seed: int) -> float:
    """The mean MS-SSIM of ``pairs`` random pairs of distinct images (within a class when ``labels`` are given),
    pairs drawn from ``seed``: the expected MS-SSIM of two independent draws of the set, whatever its size."""
    first, second = random_pairs(len(images), labels, pairs, np.random.default_rng(seed))
    return float(ms_ssim(images[first], images[second]).mean())
