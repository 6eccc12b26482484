"""CycleGAN's generator (Zhu et al. 2017, Appendix 7.2; after Johnson et al. 2016): a ResNet translator, sized for
8-32 px images.

The paper's network, in its notation: ``c7s1-64, d128, d256, R256 × n, u128, u64, c7s1-3``. ``c7s1-k`` is a 7×7
convolution of stride 1 with k filters, ``dk`` a 3×3 convolution of stride 2, ``Rk`` a residual block of two 3×3
convolutions of k filters (the input added back), ``uk`` a 3×3 fractionally-strided (transposed) convolution of
stride ½; each but the last is followed by instance normalisation (Ulyanov et al. 2016) and a ReLU, the last by
tanh; every padding is a reflection. As the authors' ``ResnetGenerator`` and ``ResnetBlock``
(junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``): instance norm without affine parameters or running
statistics (``norm='instance'``), the convolutions before it with biases, no dropout (CycleGAN's ``no_dropout``),
weights from N(0, 0.02) and biases 0 (``init_type='normal'``, ``init_gain=0.02``).

Sizes for small images (the paper trains at 128×128 and 256×256):

* ``width`` (``model.width``) is the paper's 64: the layers have width, 2·width, … filters.
* :func:`downsamplings`: the paper's two ``d`` layers (bottleneck at ¼ of the side) from 16 px up; one at 8-15 px,
  so the bottleneck never falls below 4×4.
* :func:`auto_residual_blocks`: the paper's 6 blocks at 128×128 in proportion to the side below it,
  ``ceil(6 · side / 128)`` (1 at 8 and 16 px, 2 at 32 px), and 9 from 256×256 as the paper. Each block widens the
  receptive field by 4 bottleneck pixels, so at 16 and 32 px the blocks still see the whole 4×4 or 8×8 bottleneck.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from models.networks import dcgan_init_
from models.patchgan import instance_norm

#: Appendix 7.2: 6 residual blocks for 128×128 training images, 9 for 256×256 and higher.
PAPER_BLOCKS = ((256, 9), (128, 6))
#: The smallest side the generator takes: one downsampling leaves a 4×4 bottleneck.
SMALLEST_SIDE = 8


def downsamplings(side: int) -> int:
    """The number of ``d`` (and ``u``) layers for images of ``side`` (the shorter one): 2 as the paper from 16 px,
    1 below (8-15 px), so the bottleneck is at least 4 px."""
    return 2 if side >= 16 else 1


def auto_residual_blocks(side: int) -> int:
    """The paper's block count at its sides (6 at 128, 9 from 256 px), ``ceil(6 · side / 128)`` below 128 px."""
    for paper_side, blocks in PAPER_BLOCKS:
        if side >= paper_side:
            return blocks
    return math.ceil(PAPER_BLOCKS[-1][1] * side / PAPER_BLOCKS[-1][0])


def conv_norm_relu(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, instance_norm(channels), nn.ReLU()]


class ResidualBlock(nn.Module):
    """``Rk``: ``x + IN(conv3(pad(ReLU(IN(conv3(pad(x)))))))``, both paddings reflections of 1 pixel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), *conv_norm_relu(nn.Conv2d(channels, channels, 3), channels),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), instance_norm(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """An image of ``in_channels`` → one of ``out_channels`` and the same side, in [-1, 1]:
    ``c7s1-w, d2w, …, R(2^d w) × blocks, …, u w, c7s1-out`` with ``d`` = :func:`downsamplings` (see the module
    docstring)."""

    def __init__(self, in_channels: int, out_channels: int, side: int, width: int = 64,
                 blocks: int | None = None) -> None:
        super().__init__()
        steps = downsamplings(side)
        blocks = auto_residual_blocks(side) if blocks is None else blocks
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), *conv_norm_relu(nn.Conv2d(in_channels, width, 7), width)]
        for i in range(steps):  # dk
            layers += conv_norm_relu(nn.Conv2d(width * 2**i, width * 2 ** (i + 1), 3, stride=2, padding=1),
                                     width * 2 ** (i + 1))
        layers += [ResidualBlock(width * 2**steps) for _ in range(blocks)]
        for i in range(steps, 0, -1):  # uk
            layers += conv_norm_relu(nn.ConvTranspose2d(width * 2**i, width * 2 ** (i - 1), 3, stride=2, padding=1,
                                                        output_padding=1), width * 2 ** (i - 1))
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)
