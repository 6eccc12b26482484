"""The networks of SRGAN (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network"), Fig. 4, for images of any side (the pipeline's are 8-32 px; the paper's HR crops are 96 px).

* **Generator** (SRResNet, Sec. 2.2 and Fig. 4): the low-resolution input s, mapped from the pipeline's [-1, 1] to the
  paper's [0, 1] (Sec. 3.2: "We scaled the range of the LR input images to [0, 1]"), then 9×9 conv + PReLU; B residual
  blocks ``h + BN(conv3×3(PReLU(BN(conv3×3(h)))))`` (:class:`SRResNetBlock`); conv3×3 + BN added to the head's output
  (the long skip); ``log2(scale)`` sub-pixel upsampling blocks (:class:`SubPixelUpsampler`: conv3×3 to 4·width
  channels, ``PixelShuffle(2)`` (Shi et al. 2016), PReLU); a 9×9 conv to the image's channels. The output is squashed
  by **tanh** into [-1, 1], the HR range of Sec. 3.2 and of every image in the pipeline (the scorers, D and the
  content loss see images in that range; Fig. 4 draws no output activation, tensorlayer/srgan's ``get_G`` ends in
  tanh). Widths: ``width`` (the paper's 64) throughout.
* **Discriminator** (Fig. 4): eight 3×3 convolutions of 1, 1, 2, 2, 4, 4, 8, 8 × ``width`` channels (the paper's
  64-64-128-128-256-256-512-512), strides 1 and 2 alternating, BN after each but the first, LeakyReLU(0.2); then a
  dense layer of 16 × ``width`` units (the paper's 1024), LeakyReLU(0.2), and a dense layer to one logit (the sigmoid
  of Fig. 4 lives in the loss). **Small images**: the paper's 96-px crops leave 6×6 maps after the four stride-2
  convolutions; here a stride-2 convolution becomes stride 1 once it would take a side below
  :data:`MIN_DISCRIMINATOR_SIDE` (2), so 8-px images are halved twice and 16-px ones three times, and the dense layer
  still sees a spatial grid (flattened, as the paper's) instead of a pooled vector.

Weights start as tensorlayer/srgan's ``model.py``: convolutions and dense layers from N(0, 0.02), BN scales from
N(1, 0.02), biases zero (the paper says nothing); PReLU slopes at PyTorch's 0.25 (He et al. 2015).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from models.networks import dcgan_init_

#: The upsampling factor of one sub-pixel block (Fig. 4: two blocks for ×4).
SUBPIXEL_FACTOR = 2
#: D's channel multiples of ``width`` and strides (Fig. 4: k3n64s1, k3n64s2, k3n128s1, ..., k3n512s2).
DISCRIMINATOR_MULTIPLES = (1, 1, 2, 2, 4, 4, 8, 8)
DISCRIMINATOR_STRIDES = (1, 2, 1, 2, 1, 2, 1, 2)
#: The smallest side a stride-2 convolution of D may leave (module docstring).
MIN_DISCRIMINATOR_SIDE = 2
#: D's dense layer in units of ``width`` (Fig. 4: 1024 at width 64).
DENSE_MULTIPLE = 16


def init_weights_(module: nn.Module) -> None:
    """tensorlayer/srgan's initialisation: conv and dense weights from N(0, 0.02), BN scales from N(1, 0.02), biases
    0."""
    dcgan_init_(module)
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            nn.init.zeros_(layer.bias)


def upsampling_blocks(scale: int) -> int:
    """``log2(scale)``: the sub-pixel blocks that make ×``scale`` (a power of 2, at least 2)."""
    blocks = round(math.log2(scale)) if scale >= SUBPIXEL_FACTOR else 0
    if blocks < 1 or SUBPIXEL_FACTOR ** blocks != scale:
        raise ValueError(f"SRResNet upsamples by powers of 2 (sub-pixel blocks of ×2), not ×{scale}")
    return blocks


class SubPixelUpsampler(nn.Sequential):
    """×2 by sub-pixel convolution (Shi et al. 2016; Fig. 4): conv3×3 ``width → 4·width``, ``PixelShuffle(2)`` (output
    channel c at (2h + i, 2w + j) is conv channel ``4c + 2i + j`` at (h, w)), PReLU."""

    def __init__(self, width: int) -> None:
        super().__init__(nn.Conv2d(width, width * SUBPIXEL_FACTOR ** 2, 3, 1, 1),
                         nn.PixelShuffle(SUBPIXEL_FACTOR), nn.PReLU())


class SRResNetBlock(nn.Module):
    """``h + BN(conv3×3(PReLU(BN(conv3×3(h)))))`` (Fig. 4's residual block, k3n64s1)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.PReLU(),
                                   nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))

    def forward(self, h: Tensor) -> Tensor:
        return h + self.block(h)


class SRResNet(nn.Module):
    """G: low-resolution images in [-1, 1] → images ``scale`` times larger in [-1, 1] (the module docstring)."""

    def __init__(self, channels: int, width: int, residual_blocks: int, scale: int) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, 1, 4), nn.PReLU())
        self.body = nn.Sequential(*(SRResNetBlock(width) for _ in range(residual_blocks)),
                                  nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.upsample = nn.Sequential(*(SubPixelUpsampler(width) for _ in range(upsampling_blocks(scale))))
        self.tail = nn.Conv2d(width, channels, 9, 1, 4)
        init_weights_(self)

    def forward(self, source: Tensor) -> Tensor:
        h = self.head((source + 1.0) / 2.0)
        return torch.tanh(self.tail(self.upsample(h + self.body(h))))


def discriminator_strides(side: int) -> tuple[int, ...]:
    """Fig. 4's strides, a stride 2 made 1 where it would leave a side below :data:`MIN_DISCRIMINATOR_SIDE`."""
    strides = []
    for stride in DISCRIMINATOR_STRIDES:
        halved = stride == 2 and (side + 1) // 2 >= MIN_DISCRIMINATOR_SIDE
        strides.append(2 if halved else 1)
        side = (side + 1) // 2 if halved else side
    return tuple(strides)


def convolved_side(side: int, strides: tuple[int, ...]) -> int:
    """The side after 3×3 convolutions of padding 1 and these strides."""
    for stride in strides:
        side = (side - 1) // stride + 1
    return side


class SRGANDiscriminator(nn.Module):
    """D: images (C, H, W) → one logit each (the module docstring)."""

    def __init__(self, shape: tuple[int, ...], width: int) -> None:
        super().__init__()
        channels, height, breadth = shape
        strides = discriminator_strides(min(height, breadth))
        layers: list[nn.Module] = []
        previous = channels
        for index, (multiple, stride) in enumerate(zip(DISCRIMINATOR_MULTIPLES, strides)):
            out = multiple * width
            layers.append(nn.Conv2d(previous, out, 3, stride, 1, bias=index == 0))
            layers += [nn.BatchNorm2d(out)] if index > 0 else []
            layers.append(nn.LeakyReLU(0.2))
            previous = out
        cells = convolved_side(height, strides) * convolved_side(breadth, strides)
        self.features = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(previous * cells, DENSE_MULTIPLE * width),
                                   nn.LeakyReLU(0.2), nn.Linear(DENSE_MULTIPLE * width, 1))
        init_weights_(self)

    def forward(self, images: Tensor) -> Tensor:
        return self.dense(self.features(images)).squeeze(1)
