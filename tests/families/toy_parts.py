"""What the task toy families (``toy_gan``, ``toy_pix2pix``, ``toy_cycle``, ``toy_sr``) share beyond
:mod:`models.translation`: a small MLP and the params keys they read. Imported only by the toy families, which the
tests register.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: The shared params keys every toy family reads (its networks' width, Adam's rate and betas).
TOY_READS = ("model.width", "train.lr_g", "train.betas")


class ToyMLP(nn.Module):
    """The inputs flattened and concatenated → [Linear, LeakyReLU(0.2)] × 2 → Linear → ``out_shape`` (tanh for
    images in [-1, 1] when ``squash``; ``()``: one logit per sample).

    With ``dropout`` > 0 and a ``noise`` generator, the hidden units are dropped (inverted dropout, Srivastava et al.
    2014) with masks drawn from that generator -- the run's own RNG, so a resumed run draws the same masks."""

    def __init__(self, in_features: int, out_shape: tuple[int, ...], width: int, squash: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.out_shape, self.squash, self.dropout = tuple(out_shape), squash, dropout
        self.hidden = nn.ModuleList([nn.Linear(in_features, width), nn.Linear(width, width)])
        self.out = nn.Linear(width, math.prod(out_shape))

    def forward(self, *inputs: Tensor, noise: torch.Generator | None = None) -> Tensor:
        h = torch.cat([tensor.flatten(1) for tensor in inputs], dim=1)
        for layer in self.hidden:
            h = F.leaky_relu(layer(h), 0.2)
            if noise is not None and self.dropout > 0:
                keep = torch.rand(h.shape, generator=noise, device=h.device) >= self.dropout
                h = h * keep / (1.0 - self.dropout)
        out = self.out(h)
        return (torch.tanh(out) if self.squash else out).view(len(out), *self.out_shape)
