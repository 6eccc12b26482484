"""PSNR and SSIM on luminance (analysis/luminance.py) against skimage's ``rgb2ycbcr``, ``peak_signal_noise_ratio`` and
``structural_similarity``, and the ``luminance`` final scorer on colour paired and super-resolution data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from analysis.luminance import crop_border, luminance, psnr_y, ssim_y
from analysis.pixel_error import PSNR_CAP_DB
from analysis.ssim import ssim_map
from pipeline.common.layout import reference_dir
from pipeline.data.stage import prepare
from pipeline.data.store import load_prepared
from pipeline.scoring.conditions import conditions_for
from pipeline.scoring.final_scorers.luminance import LuminanceScorer, border_crop
from tests.conftest import tiny_config
from tests.prepared_sources import with_sources
from tests.test_image_similarity import keys_bicubic

#: float64 throughout: both implementations agree to rounding.
TOLERANCE = 1e-9
N = 300  # more than the 256 test crops of photos-sr4: sources repeat


def _pair(shape=(3, 3, 24, 24), noise=0.2, seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = rng.uniform(-1, 1, shape)
    return np.clip(targets + rng.normal(0, noise, shape), -1, 1), targets


def skimage_y(images: np.ndarray) -> np.ndarray:
    """Y of each [-1, 1] RGB image (N, 3, H, W) by ``skimage.color.rgb2ycbcr`` on [0, 1] floats: (N, H, W)."""
    return np.stack([rgb2ycbcr(((image + 1.0) / 2.0).transpose(1, 2, 0))[..., 0] for image in images])


def skimage_psnr_y(outputs: np.ndarray, targets: np.ndarray, crop: int) -> float:
    cut = slice(crop, -crop or None)
    return float(np.mean([peak_signal_noise_ratio(t[cut, cut], o[cut, cut], data_range=255)
                          for o, t in zip(skimage_y(outputs), skimage_y(targets))]))


def test_luminance_is_skimages_rgb2ycbcr_y_in_16_to_235():
    outputs, _ = _pair()
    assert np.abs(luminance(outputs)[:, 0] - skimage_y(outputs)).max() < TOLERANCE
    black, white = -np.ones((1, 3, 2, 2)), np.ones((1, 3, 2, 2))
    assert luminance(black).max() == pytest.approx(16.0) and luminance(white).min() == pytest.approx(235.0)
    with pytest.raises(ValueError, match=r"luminance needs RGB batches \(N, 3, H, W\), got \(1, 1, 2, 2\)"):
        luminance(black[:, :1])


@pytest.mark.parametrize("crop", [0, 2])
def test_psnr_y_is_skimages_psnr_of_the_cropped_y_with_peak_255(crop):
    outputs, targets = _pair()
    assert psnr_y(outputs, targets, crop) == pytest.approx(skimage_psnr_y(outputs, targets, crop), abs=TOLERANCE)
    assert psnr_y(targets, targets, crop) == PSNR_CAP_DB


@pytest.mark.parametrize("crop", [0, 2])
def test_ssim_y_is_skimages_ssim_map_of_the_cropped_y_with_range_255(crop):
    """skimage's full map (reflect padding, L = 255) equals ours; ssim_y averages every pixel of it."""
    outputs, targets = _pair()
    cut = slice(crop, -crop or None)
    ours = ssim_map(*(crop_border(luminance(images), crop) / 127.5 - 1.0 for images in (outputs, targets)))
    for index, (o, t) in enumerate(zip(skimage_y(outputs), skimage_y(targets))):
        _, full = structural_similarity(o[cut, cut], t[cut, cut], data_range=255, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, full=True)
        assert np.abs(ours[index, 0] - full).max() < TOLERANCE
    assert ssim_y(outputs, targets, crop) == pytest.approx(float(ours.mean()), abs=TOLERANCE)
    assert ssim_y(targets, targets, crop) == pytest.approx(1.0)


def test_a_crop_that_leaves_nothing_is_refused():
    with pytest.raises(ValueError, match=r"cannot crop 4 pixels from each side of 8×8 images"):
        crop_border(np.zeros((1, 1, 8, 8)), 4)


@pytest.mark.parametrize("side, scale, crop", [(32, 4, 4), (16, 4, 4), (8, 4, 0), (8, 2, 2), (4, 2, 0), (16, None, 0)])
def test_the_border_crop_is_the_scale_where_half_the_side_remains(side, scale, crop):
    assert border_crop(side, scale) == crop


@pytest.fixture
def photos(in_tmp):
    """photos-sr4 prepared at 16 × 16 (4 × 4 inputs, unlabelled colour crops); returns the config."""
    config = tiny_config(data={"image_size": 16})
    prepare(config, "photos-sr4")
    return config


def _scorer(config, data, n=N) -> LuminanceScorer:
    return LuminanceScorer.build(data, reference_dir("photos-sr4"), config.for_dataset("photos-sr4").eval, n)


def test_super_resolution_is_measured_on_the_cropped_y_with_its_bicubic_baseline(photos):
    data = load_prepared("photos-sr4")
    assert LuminanceScorer.applies(data, photos.eval)
    scorer = _scorer(photos, data)
    index = np.arange(N) % len(data.test_x)
    targets, bicubic = data.test_x[index], keys_bicubic(data.test_source[index], 4)
    perfect = scorer.score(targets, {}, "perfect")
    assert perfect["psnr_y300"] == PSNR_CAP_DB and perfect["ssim_y300"] == pytest.approx(1.0)
    assert perfect["psnr_y_bicubic300"] == pytest.approx(skimage_psnr_y(bicubic, targets, 4), abs=1e-4)
    assert perfect["ssim_y_bicubic300"] == pytest.approx(ssim_y(bicubic, targets, 4), abs=1e-5)
    as_bicubic = scorer.score(bicubic.astype(np.float32), {}, "bicubic")
    assert as_bicubic["psnr_y300"] == pytest.approx(as_bicubic["psnr_y_bicubic300"], abs=1e-3)
    assert scorer.metric_names() == ["psnr_y300", "ssim_y300", "psnr_y_bicubic300", "ssim_y_bicubic300"]
    protocol = scorer.protocol()
    assert (protocol["crop_border"], protocol["scale"], protocol["n_test"]) == (4, 4, len(data.test_x))
    assert protocol["luminance"].startswith("Y = 16 + 65.481 R + 128.553 G + 24.966 B on RGB in [0, 1]")


def test_paired_translation_is_measured_whole_without_a_baseline(photos):
    colour = load_prepared("photos-sr4")
    manifest = {k: v for k, v in colour.manifest.items() if k != "scale"}
    data = with_sources(dataclasses.replace(colour, manifest=manifest), "paired", np.flip(colour.test_x, axis=3))
    scorer = _scorer(photos, data)
    sources = conditions_for("paired-translation", data, N)["source"]
    targets = colour.test_x[np.arange(N) % len(colour.test_x)]
    scores = scorer.score(sources, {"source": sources}, "mirror")
    assert set(scores) == set(scorer.metric_names()) == {"psnr_y300", "ssim_y300"}
    assert scores["psnr_y300"] == pytest.approx(skimage_psnr_y(sources, targets, 0), abs=1e-4)
    assert scorer.protocol()["crop_border"] == 0 and "scale" not in scorer.protocol()


def test_grey_and_unpaired_data_do_not_apply(prepared):
    digits = load_prepared("digits")
    assert not LuminanceScorer.applies(with_sources(digits, "paired", -digits.test_x), prepared.eval)
    colour = with_sources(digits, "unpaired", np.repeat(digits.test_x, 3, axis=1), digits.test_y,
                          test_x=np.repeat(digits.test_x, 3, axis=1))
    assert not LuminanceScorer.applies(colour, prepared.eval)
