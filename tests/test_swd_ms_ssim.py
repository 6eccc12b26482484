"""Sliced Wasserstein distance and MS-SSIM (analysis.sliced_wasserstein, analysis.ms_ssim) against independent
computations -- OpenCV's pyramid, scipy's 1-D Wasserstein distance and the closed form of shifted sets,
scikit-image's SSIM and scipy's Gaussian filter at every scale -- and their scorers of the evaluate stage."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
from skimage.metrics import structural_similarity
from skimage.transform import downscale_local_mean

from analysis.ms_ssim import (SIGMA, WINDOW, mean_pairwise_ms_ssim, ms_ssim, random_pairs, scale_count,
                              scale_weights)
from analysis.sliced_wasserstein import (laplacian_pyramid, level_sides, neighbourhoods, normalised_descriptors,
                                         projected_distances, pyr_down, pyr_up, random_directions, reconstruct,
                                         sliced_wasserstein, sliced_wasserstein_distance)
from pipeline.config import EvalConfig
from pipeline.data.store import PreparedData
from pipeline.scoring.final_scorers import load_final_scorers
from pipeline.scoring.final_scorers.ms_ssim import MsSsimScorer
from pipeline.scoring.final_scorers.sliced_wasserstein import SlicedWassersteinScorer
from pipeline.scoring.registry import SCORERS, direction, in_tables, scorers_for

RNG = np.random.default_rng(0)


def _images(n: int, channels: int, side: int, rng: np.random.Generator = RNG) -> np.ndarray:
    """Smooth-ish images in [-1, 1]: uniform noise blurred a little, so that SSIM's structure term is not trivial."""
    noise = rng.uniform(-1, 1, (n, channels, side, side))
    return np.clip(scipy.ndimage.gaussian_filter(noise, sigma=(0, 0, 0.8, 0.8)) * 3, -1, 1).astype(np.float32)


# --- sliced Wasserstein -------------------------------------------------------------------------------------------


def test_the_pyramid_filters_are_opencvs():
    """pyr_down / pyr_up against cv2.pyrDown / cv2.pyrUp (BORDER_REFLECT_101, the 5-tap binomial filter)."""
    images = _images(3, 2, 16)
    down, up = pyr_down(images), pyr_up(images)
    for n in range(3):
        for c in range(2):
            np.testing.assert_allclose(down[n, c], cv2.pyrDown(images[n, c]), atol=1e-6)
            np.testing.assert_allclose(up[n, c], cv2.pyrUp(images[n, c]), atol=1e-6)


def test_the_laplacian_pyramid_reconstructs_the_images():
    images = _images(4, 3, 32)
    pyramid = laplacian_pyramid(images, len(level_sides(32)))
    assert [level.shape[-1] for level in pyramid] == [32, 16, 8] and level_sides(16) == (16, 8)
    assert level_sides(8) == (8,)
    np.testing.assert_allclose(pyramid[-1], pyr_down(pyr_down(images)), atol=1e-6)  # the Gaussian residual
    np.testing.assert_allclose(reconstruct(pyramid), images, atol=1e-5)
    with pytest.raises(ValueError, match="power-of-two side of at least 8"):
        level_sides(4)


def test_neighbourhoods_are_7x7_crops_of_their_own_image():
    """Pixels that encode (image, row, column): every neighbourhood is one contiguous 7 × 7 crop of image k // 128."""
    n, side = 3, 8
    image, row, col = np.meshgrid(np.arange(n), np.arange(side), np.arange(side), indexing="ij")
    level = (image * 10_000 + row * 100 + col)[:, None].astype(np.float64)
    patches = neighbourhoods(level, 128, np.random.default_rng(1))
    assert patches.shape == (n * 128, 1, 7, 7)
    corner = patches[:, 0, 0, 0]
    offsets = (np.arange(7)[:, None] * 100 + np.arange(7)[None, :])
    np.testing.assert_array_equal(patches[:, 0] - corner[:, None, None], np.broadcast_to(offsets, (n * 128, 7, 7)))
    np.testing.assert_array_equal(corner // 10_000, np.arange(n * 128) // 128)
    assert set(((corner % 10_000) // 100).astype(int)) == {0, 1} == set((corner % 100).astype(int))


def test_descriptors_are_normalised_per_channel_and_a_constant_channel_stays_zero():
    patches = RNG.normal(3.0, 2.0, (500, 2, 7, 7)).astype(np.float32)
    patches[:, 1] = 5.0
    descriptors = normalised_descriptors(patches).reshape(500, 2, 49)
    assert descriptors.shape == (500, 2, 49)
    assert abs(descriptors[:, 0].mean()) < 1e-5 and descriptors[:, 0].std() == pytest.approx(1.0, abs=1e-5)
    assert not descriptors[:, 1].any()


def test_the_projected_distance_of_a_shifted_set_is_the_closed_form_and_scipys():
    """B = A + δ: the sorted projections on θ differ by θ·δ, so W1 along θ is |θ·δ| exactly; two independent
    Gaussian samples δ apart come close to it; every direction's value is scipy's 1-D Wasserstein distance."""
    dimension, delta = 5, np.array([0.5, -1.0, 0.25, 0.0, 2.0], dtype=np.float32)
    a = RNG.standard_normal((4000, dimension)).astype(np.float32)
    directions = random_directions(dimension, 16, np.random.default_rng(2))
    np.testing.assert_allclose(np.linalg.norm(directions, axis=0), 1.0, atol=1e-6)
    closed_form = np.abs(delta @ directions)
    np.testing.assert_allclose(projected_distances(a, a + delta, directions), closed_form, atol=1e-5)
    b = RNG.standard_normal((4000, dimension)).astype(np.float32) + delta
    independent = projected_distances(a, b, directions)
    np.testing.assert_allclose(independent, closed_form, atol=0.08)
    scipys = [scipy.stats.wasserstein_distance(a @ theta, b @ theta) for theta in directions.T]
    np.testing.assert_allclose(independent, scipys, rtol=1e-4, atol=1e-6)


def test_the_sliced_distance_averages_over_uniform_directions():
    """Over uniform unit directions θ in R^D, E|θ·δ| = |δ| Γ(D/2) / (√π Γ((D+1)/2)): the 4 × 128 directions'
    mean comes within a few per cent."""
    dimension, delta = 5, np.full(5, 0.4, dtype=np.float32)
    a = RNG.standard_normal((1000, dimension)).astype(np.float32)
    mean_abs_coordinate = math.gamma(dimension / 2) / (math.sqrt(math.pi) * math.gamma((dimension + 1) / 2))
    expected = np.linalg.norm(delta) * mean_abs_coordinate
    assert sliced_wasserstein(a, a + delta, np.random.default_rng(3)) == pytest.approx(expected, rel=0.06)


def test_swd_of_identical_sets_is_zero_and_of_other_sets_is_not():
    real = _images(40, 3, 32)
    same = sliced_wasserstein_distance(real, real.copy(), seed=5)
    assert list(same.levels) == [32, 16, 8] and same.mean == 0.0
    real = real[:, :, ::2, ::2]
    other = sliced_wasserstein_distance(real, _images(40, 3, 16, np.random.default_rng(9)), seed=5)
    assert list(other.levels) == [16, 8] and all(value > 1.0 for value in other.levels.values())
    halved = sliced_wasserstein_distance(real, real * 0.5, seed=5)
    assert halved == sliced_wasserstein_distance(real, real * 0.5, seed=5), "deterministic"
    affine = sliced_wasserstein_distance(real, real * 0.5 + 0.2, seed=5)
    assert affine.mean < 0.01, "a per-channel affine change cancels in the normalisation (float32 rounding left)"
    with pytest.raises(ValueError, match="equal-shaped"):
        sliced_wasserstein_distance(real, real[:10], seed=5)


# --- MS-SSIM ------------------------------------------------------------------------------------------------------


def test_scales_and_weights_for_small_images():
    assert [scale_count(side) for side in (8, 16, 32, 64, 128, 256)] == [1, 2, 3, 4, 5, 5]
    np.testing.assert_allclose(scale_weights(3), np.array([0.0448, 0.2856, 0.3001]) / 0.6305)
    assert scale_weights(1).tolist() == [1.0] and int(3.5 * SIGMA + 0.5) == WINDOW // 2


def test_ms_ssim_of_an_image_with_itself_is_one():
    for side in (8, 16, 32):
        images = _images(4, 3, side)
        np.testing.assert_allclose(ms_ssim(images, images), 1.0, atol=1e-12)
        assert (ms_ssim(images, -images) < 0.5).all()


def _skimage_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scikit-image's full (uncropped) SSIM map of one [0, 1] image pair (C, H, W) with our window and constants."""
    return structural_similarity(x, y, gaussian_weights=True, sigma=SIGMA, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=0, full=True)[1]


def _scipy_cs_mean(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The contrast-structure term's mean per channel, by hand with scipy's Gaussian filter."""
    blur = lambda image: scipy.ndimage.gaussian_filter(image, sigma=(0, SIGMA, SIGMA), truncate=3.5, mode="reflect")
    var_x, var_y = blur(x * x) - blur(x) ** 2, blur(y * y) - blur(y) ** 2
    cov = blur(x * y) - blur(x) * blur(y)
    c2 = 0.03**2
    return ((2 * cov + c2) / (var_x + var_y + c2)).mean(axis=(1, 2))


def test_every_scale_agrees_with_scikit_image_and_the_product_with_the_formula():
    """At each scale (2 × 2 block means by skimage's downscale_local_mean) the SSIM map is scikit-image's and the cs
    term scipy's; MS-SSIM is Π_j max(mean cs_j, 0)^w_j over the finer scales times (mean SSIM_M)^w_M."""
    from analysis.ms_ssim import similarity_maps

    outputs = _images(3, 3, 32)
    targets = np.clip(outputs + 0.3 * _images(3, 3, 32, np.random.default_rng(4)), -1, 1)
    count, weights = scale_count(32), scale_weights(3)
    expected = []
    for x, y in zip((outputs + 1.0) / 2.0, (targets + 1.0) / 2.0):
        x, y = x.astype(np.float64), y.astype(np.float64)
        factors = []
        for scale in range(count):
            luminance, contrast_structure = similarity_maps(x[None], y[None])
            reference = _skimage_map(x, y)
            np.testing.assert_allclose((luminance * contrast_structure)[0], reference, atol=1e-10)
            np.testing.assert_allclose(contrast_structure[0].mean(axis=(1, 2)), _scipy_cs_mean(x, y), atol=1e-10)
            if scale < count - 1:
                factors.append(np.maximum(_scipy_cs_mean(x, y), 0) ** weights[scale])
                x, y = downscale_local_mean(x, (1, 2, 2)), downscale_local_mean(y, (1, 2, 2))
            else:
                factors.append(np.maximum(reference.mean(axis=(1, 2)), 0) ** weights[scale])
        expected.append(np.prod(factors, axis=0).mean())
    np.testing.assert_allclose(ms_ssim(outputs, targets), expected, atol=1e-10)


def test_pairs_are_distinct_and_within_classes_in_turn():
    labels = np.arange(60) % 3
    first, second = random_pairs(60, labels, 300, np.random.default_rng(0))
    assert (first != second).all() and (labels[first] == labels[second]).all()
    assert np.bincount(labels[first]).tolist() == [100, 100, 100]
    first, second = random_pairs(5, None, 1000, np.random.default_rng(0))
    assert (first != second).all() and set(first) == set(range(5))
    with pytest.raises(ValueError, match="two distinct"):
        random_pairs(4, np.array([0, 1, 1, 1]), 10, np.random.default_rng(0))


# --- scorers ------------------------------------------------------------------------------------------------------


def _labelled_images(n: int, side: int, rng: np.random.Generator) -> PreparedData:
    """Four classes, each a template plus a little noise: within-class pairs are alike, across classes not."""
    templates = _images(4, 3, side, rng)
    labels = np.arange(n) % 4
    images = np.clip(templates[labels] + rng.normal(0, 0.1, (n, 3, side, side)), -1, 1).astype(np.float32)
    manifest = {"splits": {"train": {"sha256": "a" * 64}}, "label_count": 4}
    return PreparedData("toy", "images", images, labels, None, None, manifest, Path("."))


def test_the_scorers_are_registered_for_image_data_and_never_in_training(monkeypatch):
    load_final_scorers()
    names = {cls.name: cls for cls in SCORERS}
    assert names["swd"] is SlicedWassersteinScorer and names["ms_ssim"] is MsSsimScorer
    data, config = _labelled_images(20, 16, np.random.default_rng(0)), EvalConfig()
    for task in ("unconditional", "class-conditional"):
        assert {SlicedWassersteinScorer, MsSsimScorer} <= set(scorers_for(task, data, config))
    points = PreparedData("ring", "points", np.zeros((4, 2)), None, None, None, {}, Path("."))
    assert not {SlicedWassersteinScorer, MsSsimScorer} & set(scorers_for("unconditional", points, config))
    assert SlicedWassersteinScorer.in_training == () == MsSsimScorer.in_training
    monkeypatch.setattr(MsSsimScorer, "in_training", ("unconditional",))
    with pytest.raises(ValueError, match="'ms_ssim'.*runs during training"):
        load_final_scorers()


def test_swd_scorer_scores_real_images_zero_and_noise_far(monkeypatch):
    data = _labelled_images(150, 16, np.random.default_rng(1))
    scorer = SlicedWassersteinScorer.build(data, Path("."), EvalConfig(), 120)
    assert scorer.metric_names() == ["swd120", "swd_16px120", "swd_8px120"]
    real = scorer.score(scorer.real, {}, "real")
    noise = scorer.score(np.random.default_rng(2).uniform(-1, 1, (120, 3, 16, 16)), {}, "noise")
    assert set(real) == set(noise) == set(scorer.metric_names()) and real["swd120"] == 0.0
    assert all(math.isfinite(v) and v > 0 for v in noise.values())
    assert noise["swd120"] == pytest.approx((noise["swd_16px120"] + noise["swd_8px120"]) / 2)
    assert scorer.rank_key(real) > scorer.rank_key(noise)
    assert direction("swd120") == "min" and in_tables("swd120") and not in_tables("swd_8px120")
    small = SlicedWassersteinScorer.build(data, Path("."), EvalConfig(), 2500)
    assert small.n_samples == 150 and small.protocol()["levels"] == [16, 8], "never more real images than exist"


def test_ms_ssim_scorer_ranks_a_collapsed_generator_below_a_faithful_one():
    data = _labelled_images(200, 16, np.random.default_rng(3))
    scorer = MsSsimScorer.build(data, Path("."), EvalConfig(), 100)
    labels = np.arange(100) % 4
    faithful = scorer.score(data.train_x[:100], {"y": labels}, "faithful")
    collapsed = scorer.score(np.repeat(data.train_x[:1], 100, axis=0), {"y": labels}, "collapsed")
    unconditional = scorer.score(data.train_x[:100], {}, "faithful, any pairs")
    assert set(faithful) == {"ms_ssim_gap100", "ms_ssim100", "ms_ssim_real100"}
    assert all(math.isfinite(v) for v in (*faithful.values(), *collapsed.values(), *unconditional.values()))
    assert faithful["ms_ssim_gap100"] < 0.05 and collapsed["ms_ssim100"] == pytest.approx(1.0)
    assert unconditional["ms_ssim_real100"] < faithful["ms_ssim_real100"], "pairs across classes are less alike"
    assert faithful["ms_ssim_real100"] == pytest.approx(mean_pairwise_ms_ssim(data.train_x, data.train_y, 1000, 2017))
    assert scorer.rank_key(faithful) > scorer.rank_key(collapsed)
    assert direction("ms_ssim_gap100") == "min" and direction("ms_ssim100") == ""
    assert not in_tables("ms_ssim_real100") and scorer.protocol()["scales"] == 2
