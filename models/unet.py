"""The U-Net generator of pix2pix (Isola et al. 2017, Sec. 3.2.1 and appendix 6.1.1; the authors' ``UnetGenerator``
in junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``): an encoder-decoder whose skip connections
concatenate encoder layer i's output to decoder layer n − 1 − i's input (the paper's "layer i and layer n − i").

* **Encoder**: n = log2(side) 4×4 stride-2 convolutions (padding 1) down to 1×1; layer i has ``width · min(2^i, 8)``
  channels (C64-C128-C256-C512-C512… at width 64). Each but the first starts with LeakyReLU(0.2); BatchNorm follows
  each but the first (the paper: "not applied to the first C64 layer") and the innermost (the authors' code: at
  the paper's batch size 1, BatchNorm would zero the 1×1 map).
* **Decoder**: n 4×4 stride-2 transposed convolutions, each after ReLU; layer j maps to the channels of encoder
  layer n − 2 − j, BatchNorm, and is concatenated with that encoder layer's output (skip first, as the authors'
  ``torch.cat([x, model(x)], 1)``); the last maps to the output channels, then tanh.
* **Noise** (Sec. 3.1): dropout 0.5 after the BatchNorm of the first three decoder layers (the paper's CD512-CD1024-
  CD1024; never the output layer, so two at 8×8; the authors' code puts them one layer further out, on the three
  ngf·8 layers after the innermost, which small images do not have), inverted (Srivastava et al. 2014), masks
  drawn from the ``noise`` generator passed to :meth:`UNetGenerator.forward` -- the training step's RNG, so a
  resumed run draws the same masks. Without a generator, or in eval mode, there is no dropout.

Convolutions have a bias only where no BatchNorm follows (the first and innermost encoder layers, the output layer;
the authors' code leaves it off the first two as well). Weights N(0, 0.02), BatchNorm scale N(1, 0.02) (the authors'
``init_weights("normal", 0.02)``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from models.networks import dcgan_init_

KERNEL, STRIDE, PADDING, SLOPE = 4, 2, 1, 0.2
#: Sec. 3.1 and appendix 6.1.1: dropout 0.5 in the first three decoder layers.
DROPOUT, DROPOUT_LAYERS = 0.5, 3


def encoder_channels(image_size: int, width: int) -> list[int]:
    """The channels of the encoder's log2(side) layers: ``width · min(2^i, 8)``."""
    return [width * min(2 ** i, 8) for i in range(int(math.log2(image_size)))]


def dropped(h: Tensor, p: float, noise: torch.Generator) -> Tensor:
    """Inverted dropout: each unit kept with probability 1 − p (the mask drawn from ``noise``), scaled by 1/(1 − p)."""
    keep = torch.rand(h.shape, generator=noise, device=h.device) >= p
    return h * keep / (1.0 - p)


class UNetGenerator(nn.Module):
    """G(source) → image of ``out_channels`` at the source's side, in [-1, 1] (see the module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, image_size: int, width: int = 64,
                 dropout: float = DROPOUT, dropout_layers: int = DROPOUT_LAYERS) -> None:
        super().__init__()
        if image_size < 4 or image_size & (image_size - 1):
            raise ValueError(f"UNetGenerator image_size {image_size}: the encoder halves the side down to 1×1; use a "
                             "power of two of at least 4")
        channels = encoder_channels(image_size, width)
        n = len(channels)
        self.dropout, self.dropout_layers = dropout, min(dropout_layers, n - 1)
        self.encoder = nn.ModuleList()
        for i, (inputs, outputs) in enumerate(zip([in_channels, *channels], channels)):
            normed = 0 < i < n - 1
            layers = [] if i == 0 else [nn.LeakyReLU(SLOPE)]
            layers.append(nn.Conv2d(inputs, outputs, KERNEL, STRIDE, PADDING, bias=not normed))
            self.encoder.append(nn.Sequential(*layers, *([nn.BatchNorm2d(outputs)] if normed else [])))
        self.decoder = nn.ModuleList()
        for j in range(n):
            inputs = channels[-1] if j == 0 else 2 * channels[n - 1 - j]
            last = j == n - 1
            outputs = out_channels if last else channels[n - 2 - j]
            ending = nn.Tanh() if last else nn.BatchNorm2d(outputs)
            self.decoder.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(inputs, outputs, KERNEL, STRIDE, PADDING,
                                                                             bias=last), ending))
        dcgan_init_(self)

    def forward(self, source: Tensor, noise: torch.Generator | None = None) -> Tensor:
        skips = []
        h = source
        for layer in self.encoder:
            h = layer(h)
            skips.append(h)
        skips.pop()  # the innermost layer's output goes on through the decoder, not across
        for j, layer in enumerate(self.decoder):
            h = layer(h)
            if j < self.dropout_layers and self.training and noise is not None:
                h = dropped(h, self.dropout, noise)
            if skips:
                h = torch.cat([skips.pop(), h], dim=1)
        return h
