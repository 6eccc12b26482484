"""The equalised learning rate and pixelwise feature normalisation of Karras et al. (2018), "Progressive Growing of
GANs", Sec. 4.

* **Equalised learning rate** (Sec. 4.1): a weight is stored as ``w ~ N(0, 1)`` and used as ``ŵ = c·w`` with He's
  per-layer constant ``c = gain / sqrt(fan_in)`` (He et al. 2015), applied at run time, so that Adam's
  scale-invariant steps change every layer at the same rate. ``gain`` is √2 unless a layer says otherwise (the
  reference code, tkarras/progressive_growing_of_gans ``networks.py``: √2/4 for G's first dense layer, 1 for the
  to-RGB layers and D's last layer). Biases start at zero and are not scaled.
* **Learning-rate multiplier** λ (Karras et al. 2019, Appendix C: StyleGAN's mapping network learns at λ = 0.01):
  the weight is stored as ``N(0, 1) / λ`` and used times ``λ·c``, the bias stored as ``b₀`` and used times ``λ``
  (NVlabs' stylegan2-ada-pytorch ``FullyConnectedLayer``), so Adam's steps on it are λ times as large in effect.
  λ = 1 is the plain equalised layer.
* **Pixelwise feature normalisation** (Sec. 4.2): ``b = a / sqrt(mean_j(a_j²) + ε)`` over the N feature maps of each
  pixel, ε = 1e-8.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: He's gain for leaky-ReLU layers as the reference code uses it (√2, the ReLU value).
HE_GAIN = math.sqrt(2.0)
#: Sec. 4.2's ε.
PIXEL_NORM_EPSILON = 1.0e-8


def he_constant(fan_in: int, gain: float = HE_GAIN) -> float:
    """``c = gain / sqrt(fan_in)`` (Sec. 4.1)."""
    return gain / math.sqrt(fan_in)


class EqualizedLinear(nn.Module):
    """``y = x (λ·c·w)ᵀ + λ·b`` with ``w ~ N(0, 1) / λ`` stored, ``c = gain / sqrt(in_features)``, ``b = b₀``
    (``bias_init``) at the start (``bias=False``: no b, for a layer whose bias comes after a reshape)."""

    def __init__(self, in_features: int, out_features: int, gain: float = HE_GAIN, bias: bool = True,
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.scale = he_constant(in_features, gain) * lr_multiplier
        self.bias_scale = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias * self.bias_scale if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)


class EqualizedConv2d(nn.Module):
    """A stride-1 "same" convolution with ``w ~ N(0, 1)`` stored and ``c·w`` used, ``c = gain / sqrt(C_in·k²)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = HE_GAIN) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = he_constant(in_channels * kernel_size * kernel_size, gain)
        self.padding = kernel_size // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def pixel_norm(x: Tensor, epsilon: float = PIXEL_NORM_EPSILON) -> Tensor:
    """``x / sqrt(mean over dim 1 of x² + ε)``: each pixel's (or a latent's) feature vector to unit mean square."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + epsilon)


class PixelNorm(nn.Module):
    """:func:`pixel_norm` as a layer."""

    def forward(self, x: Tensor) -> Tensor:
        return pixel_norm(x)
