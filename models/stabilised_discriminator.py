"""The ``gan`` family's D with the techniques that change it (:mod:`models.techniques`): packing, a minibatch layer
before the output layer, and the features feature matching reads.

``D(x) = head(minibatch(body(pack(x))))``: ``body`` is the plain D (:mod:`models.networks`) without its output
layer, so its output is D's last hidden layer after its nonlinearity (MLP: the width features; DCGAN: the 4×4
maps), where Salimans et al. (2016) take the features they match (improved-gan's MNIST model: the last hidden
dense layer) and where Karras et al. (2018, Sec. 3) put the minibatch standard deviation (before D's last block).

* **Packing** (Lin et al. 2018, "PacGAN"): rows ``m i … m i + m − 1`` of the m·N samples form pack i, concatenated
  along the features (points) or the channels (images, as the authors' Stacked-MNIST code does); only D's first layer
  widens (their 2-D code), so D is the plain one built for data of m times the features or channels.
* **Minibatch standard deviation** (:mod:`models.minibatch_stddev`, group G): one more feature (a constant map on
  images) before the output layer.
* **Minibatch discrimination** (:mod:`models.minibatch_discrimination`): B more features (B constant maps).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from models.minibatch_discrimination import MinibatchDiscrimination
from models.minibatch_stddev import minibatch_stddev
from models.networks import NetworkSpec, build_discriminator, dcgan_init_
from models.spectral import spectral_normalised
from models.techniques import Techniques


def pack(x: Tensor, m: int) -> Tensor:
    """(m·N, F) or (m·N, C, H, W) → (N, m·F) or (N, m·C, H, W): each m consecutive rows side by side."""
    if x.shape[0] % m:
        raise ValueError(f"packing {m} samples needs a multiple of {m} rows, got {x.shape[0]}")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


class StabilisedDiscriminator(nn.Module):
    """D of ``spec`` with the packing and minibatch layer of ``techniques`` (see the module docstring)."""

    def __init__(self, spec: NetworkSpec, techniques: Techniques) -> None:
        super().__init__()
        self.pack, self.mbstd_group = techniques.pack, techniques.mbstd_group
        channels, *rest = spec.data_shape
        plain = build_discriminator(dataclasses.replace(spec, data_shape=(channels * self.pack, *rest)))
        layers = list(plain.net)
        self.body, output = nn.Sequential(*layers[:-1]), layers[-1]
        hidden = (output.in_features if isinstance(output, nn.Linear)
                  else output.in_channels * output.kernel_size[0] * output.kernel_size[1])  # DCGAN: C × 4 × 4
        self.minibatch = (MinibatchDiscrimination(hidden, techniques.minibatch_kernels, techniques.minibatch_kernel_dim)
                          if techniques.minibatch_kernels else None)
        extra = techniques.minibatch_kernels + (1 if self.mbstd_group else 0)
        self.head = output if not extra else self._widened(output, extra, spec)

    @staticmethod
    def _widened(output: nn.Module, extra: int, spec: NetworkSpec) -> nn.Module:
        """A fresh output layer taking ``extra`` more features (channels), initialised as the plain D's."""
        if isinstance(output, nn.Linear):
            head: nn.Module = nn.Linear(output.in_features + extra, output.out_features)
        else:
            head = nn.Conv2d(output.in_channels + extra, output.out_channels, output.kernel_size, output.stride,
                             output.padding)
            dcgan_init_(head)
        return spectral_normalised(head) if spec.d_norm == "spectral" else head

    def features(self, x: Tensor) -> Tensor:
        """D's last hidden layer of each pack, flattened: what feature matching matches."""
        return self.body(pack(x, self.pack)).flatten(start_dim=1)

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.body(pack(x, self.pack))
        images = hidden.dim() == 4
        maps = hidden if images else hidden[:, :, None, None]
        if self.mbstd_group:
            maps = minibatch_stddev(maps, self.mbstd_group)
        if self.minibatch is not None:
            closeness = self.minibatch(hidden.flatten(start_dim=1))
            maps = with_constant_maps(maps, closeness)
        output = self.head(maps if images else maps.flatten(start_dim=1))
        return output.reshape(-1)


def with_constant_maps(maps: Tensor, values: Tensor) -> Tensor:
    """``maps`` (N, C, H, W) with (N, B) ``values`` appended as B constant maps."""
    return torch.cat([maps, values[:, :, None, None].expand(-1, -1, *maps.shape[2:])], dim=1)
