"""The N×N PatchGAN discriminator of pix2pix (Isola et al. 2017, Sec. 3.2.2 and appendix 6.1.2), also CycleGAN's
(Zhu et al. 2017, Sec. 4): a fully convolutional D that gives one logit per overlapping patch of its input.

Layers (the authors' ``NLayerDiscriminator`` in junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``): 4×4
convolutions with padding 1; layer k has ``width · min(2^k, 8)`` channels (C64-C128-C256-C512 at width 64); layers
0 … N−1 have stride 2, layer N stride 1, each followed by the norm (none on layer 0) and LeakyReLU(0.2); a last
4×4 stride-1 convolution gives one logit per patch. Norm "batch" (pix2pix) is BatchNorm with convolutions without
bias; "instance" (CycleGAN) is InstanceNorm without affine parameters or running statistics, the convolutions with
bias (the authors' ``use_bias``).

**Size rule.** The paper's 70×70 D has N = 3 stride-2 layers on 256×256 images: its patch is about a quarter of the
side. Here ``N = max(1, log2(side) − 5)`` (:func:`strided_layers`, the floor of log2 for other sides), which keeps
the paper's ratio and its 30×30 grid of logits from 64 pixels up and takes the smallest patch, N = 1, below:

============  ===  ================  ===========
side          N    receptive field   logit grid
============  ===  ================  ===========
8             1    16                2×2
16            1    16                6×6
32            1    16                14×14
64            1    16 (1/4 side)     30×30
128           2    34 (0.27 side)    30×30
256           3    70 (0.27 side)    30×30
============  ===  ================  ===========

The receptive field of N stride-2 layers is ``9 · 2^N − 2`` (:func:`receptive_field` counts it layer by layer); on
8- to 32-pixel images each patch of 16 pixels is half the side or more: a 4×4 kernel cannot see less with one
downsampling, and Sec. 4.4 finds smaller patches (1×1, 16×16 on 256) give worse images anyway. The grid is
``side / 2^N − 2`` (:func:`logit_grid`).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from models.networks import dcgan_init_

KERNEL, PADDING, SLOPE = 4, 1, 0.2
NORMS = ("batch", "instance")


def strided_layers(image_size: int) -> int:
    """N, the number of stride-2 convolutions for ``image_size``: ``max(1, ⌊log2 side⌋ − 5)`` (3 at 256, the
    paper's 70×70 D)."""
    return max(1, int(math.log2(image_size)) - 5)


def layer_strides(image_size: int) -> tuple[int, ...]:
    """The strides of the convolutions, in order: N × 2, then 1 (the last feature layer), then 1 (the logits)."""
    return (2,) * strided_layers(image_size) + (1, 1)


def receptive_field(image_size: int) -> int:
    """Side of the input patch one logit sees: walking back from one output unit, ``r ← (r − 1) · stride + 4``."""
    field = 1
    for stride in reversed(layer_strides(image_size)):
        field = (field - 1) * stride + KERNEL
    return field


def logit_grid(image_size: int) -> int:
    """Side of the output grid of logits: each convolution maps ``n`` to ``⌊(n + 2 − 4) / stride⌋ + 1``."""
    side = image_size
    for stride in layer_strides(image_size):
        side = (side + 2 * PADDING - KERNEL) // stride + 1
    return side


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    """The authors' ``norm='instance'``: per-sample, per-channel normalisation; no affine parameters, no running
    statistics (training and evaluation normalise alike)."""
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else instance_norm(channels)


class PatchDiscriminator(nn.Module):
    """D(x) → logits of shape (N, 1, g, g), g = :func:`logit_grid` (see the module docstring)."""

    def __init__(self, in_channels: int, image_size: int, width: int = 64, norm: str = "batch") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"PatchDiscriminator norm {norm!r}: use one of {', '.join(NORMS)}")
        if image_size < 1 or logit_grid(image_size) < 1:
            raise ValueError(f"PatchDiscriminator image_size {image_size}: too small for one 4×4 patch logit; "
                             "use images of at least 6 pixels")
        strides = layer_strides(image_size)
        channels = [width * min(2 ** k, 8) for k in range(len(strides) - 1)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], KERNEL, strides[0], PADDING),
                                   nn.LeakyReLU(SLOPE)]
        for k in range(1, len(channels)):
            layers += [nn.Conv2d(channels[k - 1], channels[k], KERNEL, strides[k], PADDING, bias=norm != "batch"),
                       _norm(norm, channels[k]), nn.LeakyReLU(SLOPE)]
        layers.append(nn.Conv2d(channels[-1], 1, KERNEL, strides[-1], PADDING))
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)  # N(0, 0.02) weights, BatchNorm scale N(1, 0.02): the authors' init_weights("normal")

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
