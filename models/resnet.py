"""The residual generator and discriminator of SNGAN (Miyato et al. 2018, Appendix B.4, Table 4: CIFAR-10), the
projection discriminator (Miyato & Koyama 2018, Fig. 14) and BigGAN (Brock et al. 2019, Appendix B, Fig. 15), in
one parametrised pair, scaled down in width for a CPU.

**Generator.** ``z → Linear → 4×4×width → [GBlock ↑2] × log2(side/4) → BN → ReLU → Conv3×3 → tanh``. A GBlock is
``BN → ReLU → Upsample(nearest ×2) → Conv3×3 → BN → ReLU → Conv3×3`` plus the shortcut ``Upsample → Conv1×1``. Its
batch normalisations are

* ``plain``: BatchNorm (SNGAN, unconditional);
* ``class``: categorical conditional BatchNorm, a scale and shift per class (Miyato & Koyama 2018, Sec. 5);
* ``shared``: BigGAN's conditional BatchNorm fed by one *shared* class embedding concatenated with that block's
  chunk of ``z`` (the hierarchical latent space: ``z`` is split into one chunk for the input layer and one per
  block, Brock et al. 2019, Sec. 4 and Appendix B; ``z_dim`` is rounded down to a multiple of the chunks, as
  BigGAN-PyTorch does).

**Discriminator.** ``x → OptimisedDBlock → [DBlock] × log2(side/4) → ReLU → global sum pooling → φ(x)``, then
``ψ(φ(x))``, plus ``embed(y) · φ(x)`` with projection (:class:`models.conditioning.Projection`). The first block is
``Conv3×3 → ReLU → Conv3×3 → AvgPool`` with the shortcut ``AvgPool → Conv1×1``; a DBlock is ``ReLU → Conv3×3 → ReLU →
Conv3×3 (→ AvgPool)`` with a 1×1 shortcut where shapes change. D has one block more than G has upsampling blocks
(SNGAN's 32×32 nets: 3 and 4), halving the side until it is ``side/4`` (at least 4): 32 → 16 → 8 → 8 → 8 as in
SNGAN, 8 → 4 → 4 for 8×8 digits. Spectral normalisation (:mod:`models.spectral`) on every
layer of D, and of G for BigGAN (but its shared class embedding, a plain ``nn.Embedding`` in BigGAN-PyTorch).

**Initialisation**: ``xavier`` (SNGAN's reference code and mimicry: Xavier-uniform, gain √2 in the residual
branches, 1 elsewhere; conditional BN starts at the identity) or ``orthogonal`` (BigGAN-PyTorch's ``ortho``
init of every layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.conditioning import ConditionalBatchNorm2d, Conditions, Projection, one_hot
from models.spectral import spectral_normalised

G_NORMS = ("plain", "class", "shared")
INITS = ("xavier", "orthogonal")


@dataclass(frozen=True)
class ResNetSpec:
    """Everything needed to rebuild a residual G/D pair (stored in checkpoints)."""

    data_shape: tuple[int, int, int]  # (C, H, W), H = W = 4 · 2^k
    z_dim: int
    g_width: int
    d_width: int
    n_classes: int = 0  # labels G and D are given (0: unconditional)
    g_norm: str = "plain"  # plain | class | shared
    shared_dim: int = 128  # BigGAN's shared class embedding (g_norm "shared")
    projection: bool = False  # D projects the label embedding onto φ(x)
    g_spectral: bool = False  # spectral norm in G (BigGAN)
    init: str = "xavier"

    def __post_init__(self) -> None:
        if len(self.data_shape) != 3:
            raise ValueError(f"the ResNet nets need image data (C, H, W), got shape {self.data_shape}")
        _, height, width = self.data_shape
        if height != width or height < 8 or height & (height - 1):
            raise ValueError(f"the ResNet nets need square images with a power-of-two side >= 8, got {height}x{width}")
        if self.g_norm not in G_NORMS or self.init not in INITS:
            raise ValueError(f"g_norm must be one of {G_NORMS} and init one of {INITS}")
        if (self.g_norm != "plain" or self.projection) and self.n_classes < 2:
            raise ValueError("conditional BatchNorm and projection need labels of at least 2 classes")

    @property
    def g_blocks(self) -> int:
        return int(math.log2(self.data_shape[1])) - 2

    @property
    def z_chunk(self) -> int:
        """The size of each of the hierarchical latent's chunks (the whole z without a shared embedding)."""
        return self.z_dim // (self.g_blocks + 1) if self.g_norm == "shared" else self.z_dim

    @property
    def latent_dim(self) -> int:
        """The z G draws: ``z_dim`` rounded down to a multiple of the chunks with a hierarchical latent."""
        return self.z_chunk * (self.g_blocks + 1) if self.g_norm == "shared" else self.z_dim


def _xavier(layer: nn.Module, gain: float) -> nn.Module:
    nn.init.xavier_uniform_(layer.weight, gain)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return layer


class GeneratorBlock(nn.Module):
    """BN → ReLU → ↑2 → Conv3×3 → BN → ReLU → Conv3×3, plus ↑2 → Conv1×1 (the batch norms conditional or not)."""

    def __init__(self, in_channels: int, out_channels: int, condition_dim: int) -> None:
        super().__init__()
        self.condition_dim = condition_dim
        self.norm1, self.norm2 = (ConditionalBatchNorm2d(c, condition_dim) if condition_dim else nn.BatchNorm2d(c)
                                  for c in (in_channels, out_channels))
        self.conv1 = _xavier(nn.Conv2d(in_channels, out_channels, 3, padding=1), math.sqrt(2))
        self.conv2 = _xavier(nn.Conv2d(out_channels, out_channels, 3, padding=1), math.sqrt(2))
        self.shortcut = _xavier(nn.Conv2d(in_channels, out_channels, 1), 1.0)

    def _norm(self, norm: nn.Module, h: Tensor, condition: Tensor | None) -> Tensor:
        return norm(h, condition) if self.condition_dim else norm(h)

    def forward(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        h = F.interpolate(F.relu(self._norm(self.norm1, x, condition)), scale_factor=2)
        h = self.conv2(F.relu(self._norm(self.norm2, self.conv1(h), condition)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class ResNetGenerator(nn.Module):
    """``G(z)`` or ``G(z, {"y": labels})``; see the module docstring."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        width, channels = spec.g_width, spec.data_shape[0]
        condition_dim = {"plain": 0, "class": spec.n_classes, "shared": spec.shared_dim + spec.z_chunk}[spec.g_norm]
        self.shared = nn.Embedding(spec.n_classes, spec.shared_dim) if spec.g_norm == "shared" else None
        self.input = _xavier(nn.Linear(spec.z_chunk, 4 * 4 * width), 1.0)
        self.blocks = nn.ModuleList(GeneratorBlock(width, width, condition_dim) for _ in range(spec.g_blocks))
        self.output_norm = nn.BatchNorm2d(width)
        self.output = _xavier(nn.Conv2d(width, channels, 3, padding=1), 1.0)
        if spec.init == "orthogonal":
            for layer in self.modules():
                if isinstance(layer, (nn.Linear, nn.Conv2d, nn.Embedding)):
                    nn.init.orthogonal_(layer.weight)
        if spec.g_spectral:  # BigGAN-PyTorch normalises G's convolutions and linear maps, not the shared embedding
            for part in (self.input, self.blocks, self.output):
                spectral_normalised(part)

    def _conditions(self, z: Tensor, conditions: Conditions | None) -> tuple[Tensor, list[Tensor | None]]:
        """The input layer's z and each block's condition vector."""
        blocks = self.spec.g_blocks
        if self.spec.g_norm == "plain":
            return z, [None] * blocks
        if self.spec.g_norm == "class":
            return z, [one_hot(conditions, self.spec.n_classes)] * blocks
        chunks = torch.split(z, self.spec.z_chunk, dim=1)
        shared = self.shared(conditions["y"])
        return chunks[0], [torch.cat([shared, chunk], dim=1) for chunk in chunks[1:]]

    def forward(self, z: Tensor, conditions: Conditions | None = None) -> Tensor:
        first, per_block = self._conditions(z, conditions)
        h = self.input(first).view(len(z), self.spec.g_width, 4, 4)
        for block, condition in zip(self.blocks, per_block):
            h = block(h, condition)
        return torch.tanh(self.output(F.relu(self.output_norm(h))))


class DiscriminatorBlock(nn.Module):
    """``[ReLU →] Conv3×3 → ReLU → Conv3×3 [→ AvgPool]`` plus a shortcut (1×1 conv where the shape changes); the
    first block of D (``first``) starts without the ReLU and pools its shortcut before the 1×1 conv."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, first: bool) -> None:
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1 = _xavier(nn.Conv2d(in_channels, out_channels, 3, padding=1), math.sqrt(2))
        self.conv2 = _xavier(nn.Conv2d(out_channels, out_channels, 3, padding=1), math.sqrt(2))
        learnable = first or downsample or in_channels != out_channels
        self.shortcut = _xavier(nn.Conv2d(in_channels, out_channels, 1), 1.0) if learnable else None

    def _pool(self, h: Tensor) -> Tensor:
        return F.avg_pool2d(h, 2) if self.downsample else h

    def forward(self, x: Tensor) -> Tensor:
        h = self._pool(self.conv2(F.relu(self.conv1(x if self.first else F.relu(x)))))
        if self.shortcut is None:
            return h + x
        skip = self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))
        return h + skip


class ResNetDiscriminator(nn.Module):
    """``D(x)`` or ``D(x, {"y": labels})`` with projection; raw outputs, shape (N,). Spectral norm on every layer."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        channels, side, _ = spec.data_shape
        width, target = spec.d_width, max(4, side // 4)
        blocks = []
        for index in range(spec.g_blocks + 1):
            downsample = side > target
            blocks.append(DiscriminatorBlock(channels if index == 0 else width, width, downsample, index == 0))
            side //= 2 if downsample else 1
        self.blocks = nn.Sequential(*blocks)
        self.head = Projection(width, spec.n_classes if spec.projection else 0)
        _xavier(self.head.linear, 1.0)
        if self.head.embed is not None:
            _xavier(self.head.embed, 1.0)
        if spec.init == "orthogonal":
            for layer in self.modules():
                if isinstance(layer, (nn.Linear, nn.Conv2d, nn.Embedding)):
                    nn.init.orthogonal_(layer.weight)
        spectral_normalised(self)

    def features(self, x: Tensor) -> Tensor:
        """φ(x): the last block's ReLU activations summed over space, shape (N, width)."""
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: Tensor, conditions: Conditions | None = None) -> Tensor:
        return self.head(self.features(x), conditions)
