"""PSNR, SSIM, L1, bicubic upsampling and cycle error (analysis/) against skimage and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from analysis.bicubic import bicubic_upsample
from analysis.cycle import cycle_error
from analysis.pixel_error import PSNR_CAP_DB, l1_per_image, mean_psnr, psnr_per_image
from analysis.ssim import ssim_map, ssim_per_image

#: float64 throughout: both implementations agree to rounding.
TOLERANCE = 1e-10


def _pair(shape=(4, 3, 16, 20), noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    targets = rng.uniform(-1, 1, shape)
    return np.clip(targets + rng.normal(0, noise, shape), -1, 1), targets


def _skimage_ssim(output, target, full=False):
    return structural_similarity((output + 1) / 2, (target + 1) / 2, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0, channel_axis=0, full=full)


def test_psnr_matches_skimage_per_image_with_data_range_2():
    outputs, targets = _pair()
    expected = [peak_signal_noise_ratio(t, o, data_range=2.0) for o, t in zip(outputs, targets)]
    assert psnr_per_image(outputs, targets) == pytest.approx(expected, abs=TOLERANCE)
    assert mean_psnr(outputs, targets) == pytest.approx(np.mean(expected), abs=TOLERANCE)


def test_an_exact_copy_has_infinite_psnr_counted_at_the_cap_in_the_mean():
    outputs, targets = _pair(shape=(2, 1, 8, 8))
    outputs[0] = targets[0]
    per_image = psnr_per_image(outputs, targets)
    assert per_image[0] == math.inf and math.isfinite(per_image[1])
    assert mean_psnr(outputs, targets) == pytest.approx((PSNR_CAP_DB + per_image[1]) / 2)
    assert mean_psnr(targets, targets) == PSNR_CAP_DB


def test_ssim_map_matches_skimages_full_map_and_its_cropped_mean():
    """skimage computes the same map (reflect-padded Gaussian filtering) and averages it without a 5-pixel border;
    ours averages every pixel (the documented border choice), so both are compared on the map."""
    outputs, targets = _pair()
    ours = ssim_map(outputs, targets)
    for index in range(len(outputs)):
        mean, full = _skimage_ssim(outputs[index], targets[index], full=True)
        assert np.abs(ours[index] - full).max() < TOLERANCE
        assert ours[index][:, 5:-5, 5:-5].mean() == pytest.approx(mean, abs=TOLERANCE)
    assert ssim_per_image(outputs, targets) == pytest.approx(ours.mean(axis=(1, 2, 3)), abs=TOLERANCE)


def test_ssim_of_identical_images_is_one_even_at_8x8_where_skimage_has_no_interior():
    outputs, targets = _pair(shape=(3, 1, 8, 8))
    assert ssim_per_image(targets, targets) == pytest.approx([1.0, 1.0, 1.0], abs=TOLERANCE)
    assert (ssim_per_image(outputs, targets) < 1.0).all()
    with pytest.raises(ValueError):
        _skimage_ssim(outputs[0], targets[0])


def test_l1_by_hand():
    outputs = np.zeros((2, 1, 2, 2))
    targets = np.array([[[[1.0, -1.0], [0.5, 0.0]]], [[[0.0, 0.0], [0.0, 2.0]]]])
    assert l1_per_image(outputs, targets) == pytest.approx([2.5 / 4, 0.5])
    with pytest.raises(ValueError, match="equal-shaped"):
        l1_per_image(outputs, targets[:1])


def keys_bicubic(images: np.ndarray, scale: int, a: float = -0.5) -> np.ndarray:
    """Keys (1981) cubic convolution written out: half-pixel centres, taps outside the image dropped and the others'
    weights renormalised (PIL's border rule), one axis at a time, clipped to [-1, 1]."""

    def kernel(d: float) -> float:
        d = abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.0

    def along_last(values: np.ndarray) -> np.ndarray:
        size = values.shape[-1]
        out = np.zeros(values.shape[:-1] + (size * scale,))
        for o in range(size * scale):
            position = (o + 0.5) / scale - 0.5
            taps = [t for t in range(math.floor(position) - 1, math.floor(position) + 3) if 0 <= t < size]
            weights = np.array([kernel(position - t) for t in taps])
            for tap, weight in zip(taps, weights / weights.sum()):
                out[..., o] += weight * values[..., tap]
        return out

    rows = along_last(np.asarray(images, dtype=np.float64))
    return np.clip(np.swapaxes(along_last(np.swapaxes(rows, -1, -2)), -1, -2), -1, 1)


def test_bicubic_upsampling_is_keys_cubic_convolution_with_pils_borders():
    images = np.random.default_rng(1).uniform(-1, 1, (2, 3, 5, 7))
    for scale in (2, 3, 4):
        assert np.abs(bicubic_upsample(images, scale) - keys_bicubic(images, scale)).max() < 1e-5
    with pytest.raises(ValueError, match="positive integer"):
        bicubic_upsample(images, 0)


def test_cycle_error_by_hand():
    images = np.random.default_rng(2).uniform(-0.5, 0.5, (3, 1, 4, 4))
    assert cycle_error(images, -(-images)) == pytest.approx(0.0)
    assert cycle_error(images, images + 0.1) == pytest.approx(0.1)
