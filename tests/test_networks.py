"""Architectures: shapes and the DCGAN rules of Radford et al. (2016)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.networks import NetworkSpec, build_discriminator, build_generator


@pytest.mark.parametrize("side", [8, 16, 32])
def test_dcgan_shapes(side):
    spec = NetworkSpec("dcgan", (3, side, side), z_dim=10, width=8, depth=3, d_norm="batch")
    g, d = build_generator(spec), build_discriminator(spec)
    x = g(torch.randn(5, 10))
    assert x.shape == (5, 3, side, side)
    assert x.abs().max() <= 1.0  # tanh output
    assert d(x).shape == (5,)


def test_dcgan_follows_radford_rules():
    spec = NetworkSpec("dcgan", (1, 16, 16), z_dim=10, width=8, depth=3, d_norm="batch")
    g, d = build_generator(spec), build_discriminator(spec)
    for net in (g, d):
        kinds = {type(m) for m in net.modules()}
        assert not kinds & {nn.MaxPool2d, nn.AvgPool2d, nn.Linear}, "no pooling, no fully connected hidden layers"
    g_layers = list(g.net)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert all(isinstance(m, nn.ReLU) for m in g_layers if isinstance(m, (nn.ReLU, nn.LeakyReLU)))
    d_layers = list(d.net)
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU), "no norm on D's input layer"
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))
    assert any(isinstance(m, nn.BatchNorm2d) for m in d_layers)


def test_critic_without_batchnorm_for_gradient_penalty():
    spec = NetworkSpec("dcgan", (1, 16, 16), z_dim=10, width=8, depth=3, d_norm="layer")
    d = build_discriminator(spec)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in d.modules())


def test_mlp_shapes_for_points_and_images():
    points = NetworkSpec("mlp", (2,), z_dim=4, width=16, depth=3, d_norm="none")
    assert build_generator(points)(torch.randn(7, 4)).shape == (7, 2)
    images = NetworkSpec("mlp", (1, 8, 8), z_dim=4, width=16, depth=2, d_norm="layer")
    x = build_generator(images)(torch.randn(7, 4))
    assert x.shape == (7, 1, 8, 8)
    assert build_discriminator(images)(x).shape == (7,)


def test_invalid_specs_are_refused():
    with pytest.raises(ValueError, match="power-of-two"):
        NetworkSpec("dcgan", (1, 12, 12), 4, 8, 3, "batch")
    with pytest.raises(ValueError, match="image data"):
        NetworkSpec("dcgan", (2,), 4, 8, 3, "batch")
    with pytest.raises(ValueError, match="normalisation"):
        NetworkSpec("mlp", (2,), 4, 8, 3, "weird")
