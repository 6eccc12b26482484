"""Generator and discriminator architectures.

* ``mlp``: fully connected nets for 2-D points and flattened images.
* ``dcgan``: Radford et al. (2016), Sec. 3 rules -- strided (transposed)
  convolutions and no pooling, no hidden fully connected layers, BatchNorm in
  G except its output layer, ReLU + tanh in G, LeakyReLU(0.2) in D, no
  normalisation on D's input layer. D's normalisation is an option because a
  WGAN-GP critic must not use BatchNorm (Gulrajani et al. 2017, Sec. 4: the
  penalty is per sample; layer normalisation is their suggested replacement).
  ``spectral`` puts spectral normalisation (Miyato et al. 2018, :mod:`models.spectral`) on every layer of D
  instead of a normalisation layer: SNGAN's regulariser, usable with any loss.

Every network maps ``z`` of shape (N, z_dim) to samples of ``data_shape``, and
samples to one raw output per sample, shape (N,).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor, nn

from models.spectral import spectral_normalised

ARCHITECTURES = ("mlp", "dcgan")
NORMS = ("none", "batch", "layer", "instance", "spectral")


@dataclass(frozen=True)
class NetworkSpec:
    """Everything needed to rebuild a G/D pair (stored in checkpoints)."""

    arch: str
    data_shape: tuple[int, ...]  # (2,) for points, (C, H, W) for images
    z_dim: int
    width: int
    depth: int  # hidden layers of the MLPs; ignored by dcgan
    d_norm: str  # normalisation in D's hidden layers

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {ARCHITECTURES}")
        if self.d_norm not in NORMS:
            raise ValueError(f"unknown normalisation {self.d_norm!r}; choose one of {NORMS}")
        if self.arch == "dcgan":
            if len(self.data_shape) != 3:
                raise ValueError(f"dcgan needs image data (C, H, W), got shape {self.data_shape}")
            _, height, width = self.data_shape
            if height != width or height < 8 or height & (height - 1):
                raise ValueError(f"dcgan needs square images with a power-of-two side >= 8, got {height}x{width}")


def _norm_1d(kind: str, features: int) -> nn.Module:
    return {
        "none": nn.Identity,
        "spectral": nn.Identity,
        "batch": lambda: nn.BatchNorm1d(features),
        "layer": lambda: nn.LayerNorm(features),
        "instance": lambda: nn.LayerNorm(features, elementwise_affine=False),
    }[kind]()


def _norm_2d(kind: str, channels: int) -> nn.Module:
    return {
        "none": nn.Identity,
        "spectral": nn.Identity,
        "batch": lambda: nn.BatchNorm2d(channels),
        "layer": lambda: nn.GroupNorm(1, channels),
        "instance": lambda: nn.InstanceNorm2d(channels, affine=True),
    }[kind]()


class MLPGenerator(nn.Module):
    """z → [Linear, ReLU] × depth → Linear (→ tanh for images) → data_shape."""

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        self.data_shape = spec.data_shape
        out_features = math.prod(spec.data_shape)
        layers: list[nn.Module] = []
        in_features = spec.z_dim
        for _ in range(spec.depth):
            layers += [nn.Linear(in_features, spec.width), nn.ReLU()]
            in_features = spec.width
        layers.append(nn.Linear(in_features, out_features))
        if len(spec.data_shape) == 3:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.data_shape)


class MLPDiscriminator(nn.Module):
    """x → [Linear, norm, LeakyReLU(0.2)] × depth → Linear → one raw output (or ``outputs`` of them per sample)."""

    def __init__(self, spec: NetworkSpec, outputs: int = 1) -> None:
        super().__init__()
        self.outputs = outputs
        layers: list[nn.Module] = [nn.Flatten()]
        in_features = math.prod(spec.data_shape)
        for i in range(spec.depth):
            norm = "none" if i == 0 else spec.d_norm
            layers += [nn.Linear(in_features, spec.width), _norm_1d(norm, spec.width), nn.LeakyReLU(0.2)]
            in_features = spec.width
        layers.append(nn.Linear(in_features, outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return _raw_outputs(self.net(x), self.outputs)


def _raw_outputs(output: Tensor, outputs: int) -> Tensor:
    """Shape (N,) for one output per sample, (N, outputs) for several."""
    return output.reshape(-1) if outputs == 1 else output.reshape(-1, outputs)


def _dcgan_levels(image_side: int) -> int:
    """Number of ×2 resolution steps between the 4×4 base and the image side."""
    return int(math.log2(image_side)) - 2


class DCGANGenerator(nn.Module):
    """z → 4×4 (ConvT 4/1/0) → [ConvT 4/2/1, BN, ReLU] × (levels-1) → ConvT 4/2/1 → tanh.

    Channels halve at each upsampling, from ``width · 2^(levels-1)`` at 4×4
    down to ``width`` before the output layer.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        super().__init__()
        channels, side, _ = spec.data_shape
        levels = _dcgan_levels(side)
        features = spec.width * 2 ** (levels - 1)
        layers: list[nn.Module] = [
            nn.Unflatten(1, (spec.z_dim, 1, 1)),
            nn.ConvTranspose2d(spec.z_dim, features, 4, 1, 0, bias=False),
            nn.BatchNorm2d(features),
            nn.ReLU(),
        ]
        for _ in range(levels - 1):
            layers += [
                nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(features // 2),
                nn.ReLU(),
            ]
            features //= 2
        layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """x → Conv 4/2/1, LReLU → [Conv 4/2/1, norm, LReLU] × (levels-1) → Conv 4/1/0 → one output (or ``outputs``)."""

    def __init__(self, spec: NetworkSpec, outputs: int = 1) -> None:
        super().__init__()
        self.outputs = outputs
        channels, side, _ = spec.data_shape
        levels = _dcgan_levels(side)
        features = spec.width
        use_bias = spec.d_norm in ("none", "spectral")
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 4, 2, 1), nn.LeakyReLU(0.2)]
        for _ in range(levels - 1):
            layers += [
                nn.Conv2d(features, features * 2, 4, 2, 1, bias=use_bias),
                _norm_2d(spec.d_norm, features * 2),
                nn.LeakyReLU(0.2),
            ]
            features *= 2
        layers.append(nn.Conv2d(features, outputs, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return _raw_outputs(self.net(x), self.outputs)


def dcgan_init_(module: nn.Module) -> None:
    """Radford et al. (2016), Sec. 4: weights from N(0, 0.02); BatchNorm scale from N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


_CLASSES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "mlp": (MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
}


def build_generator(spec: NetworkSpec) -> nn.Module:
    net = _CLASSES[spec.arch][0](spec)
    if spec.arch == "dcgan":
        dcgan_init_(net)
    return net


def build_discriminator(spec: NetworkSpec, outputs: int = 1) -> nn.Module:
    """D of ``spec`` with ``outputs`` raw outputs per sample (AC-GAN's source and class logits: 1 + classes)."""
    net = _CLASSES[spec.arch][1](spec, outputs)
    if spec.arch == "dcgan":
        dcgan_init_(net)
    return spectral_normalised(net) if spec.d_norm == "spectral" else net
