"""The growing generator and discriminator of Karras et al. (2018), "Progressive Growing of GANs", Sec. 2 and Table 2,
after the reference code (tkarras/progressive_growing_of_gans ``networks.py``, ``G_paper`` and ``D_paper``).

Both nets have one block per doubling of the side from 4×4 (level 0) to the data's side (level L), ``width``
channels everywhere (the paper's 512 up to 32×32, scaled down for a CPU), equalised learning rate in every layer
and leaky ReLU (0.2) (:mod:`models.equalized`).

* **G**: ``z → pixel norm → dense (gain √2/4) → 4×4 → LReLU, PN → conv 3×3, LReLU, PN``; each block: nearest
  ×2 upsampling, two [conv 3×3, LReLU, PN]; a 1×1 linear **to-RGB** layer per level. At level ℓ with α < 1 (a
  fade-in, Fig. 2) the image is ``(1 − α)·up₂(toRGB_{ℓ−1}(h_{ℓ−1})) + α·toRGB_ℓ(h_ℓ)``; at α = 1 the new block
  alone. The output has no activation (the reference code's linear output).
* **D**: mirrors G: a 1×1 **from-RGB** layer with LReLU per level; each block: two [conv 3×3, LReLU], then 2×2
  average pooling; at 4×4 the minibatch standard deviation (:mod:`models.minibatch_stddev`), conv 3×3, dense
  (``width``), dense to one output (gain 1). During a fade-in D's input enters both through the new block and,
  average-pooled, through the previous level's from-RGB: ``(1 − α)·fromRGB_{ℓ−1}(down₂(x)) + α·block_ℓ(fromRGB_ℓ(x))``.

**Always the data's size.** As in the reference code, G's image is upsampled (nearest) to the data's side and D
average-pools its input down to the level's side first, so both talk in the data's shape whatever the level (the
pooling undoes the upsampling); the reals shown to D are processed as :func:`shown_reals` describes.

**The level and α are buffers** (``level``, ``alpha``) set by :meth:`Growing.set_growth`: they travel in every
state dict, the EMA copy of G takes them from G with its other buffers, and a sampler built from a checkpoint
generates at the phase the run reached.

**Every parameter in every graph.** The blocks not yet grown (and the other levels' to-/from-RGB layers) are kept in
the autograd graph with weight zero (``0 · Σ p`` added to the output): their gradients are zeros, not missing.
``DistributedDataParallel`` without ``find_unused_parameters`` (what ``ray.train.torch.prepare_model`` builds)
waits for every parameter's gradient and fails at the next step otherwise. Adam leaves a parameter whose gradient
is always zero where it is (m = v = 0), so single-worker training is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.equalized import EqualizedConv2d, EqualizedLinear, PixelNorm, pixel_norm
from models.growth import BASE_SIDE, GrowthState
from models.minibatch_stddev import MinibatchStdDev

#: The leaky ReLU slope of both nets (Sec. A.1).
LEAK = 0.2
#: The gain of G's first dense layer in the reference code (``G_paper``).
BASE_GAIN = math.sqrt(2.0) / 4.0
IMAGE_CHANNELS = (1, 3)


@dataclass(frozen=True)
class ProgressiveSpec:
    """The pair's shape: the data's (C, S, S) with S a power of two >= 8, the latent size and the channels."""

    data_shape: tuple[int, ...]
    z_dim: int
    width: int

    def __post_init__(self) -> None:
        shape = tuple(self.data_shape)
        side = shape[-1] if len(shape) == 3 else 0
        if len(shape) != 3 or shape[0] not in IMAGE_CHANNELS or shape[1] != side or side < 8 or side & (side - 1):
            raise ValueError(f"the growing nets need square images (C, S, S) with C in {IMAGE_CHANNELS} and S a power "
                             f"of two >= 8, got shape {shape}")
        if self.z_dim < 1 or self.width < 1:
            raise ValueError(f"the growing nets need z_dim and width >= 1, got {self.z_dim} and {self.width}")

    @property
    def levels(self) -> int:
        """Doublings from 4×4 to the data's side (L)."""
        return int(math.log2(self.data_shape[-1] // BASE_SIDE))


def upsample(x: Tensor, factor: int) -> Tensor:
    """Nearest-neighbour upsampling by ``factor`` (the reference code's ``upscale2d``)."""
    return F.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x


def downsample(x: Tensor, factor: int) -> Tensor:
    """``factor``×``factor`` average pooling (the reference code's ``downscale2d``)."""
    return F.avg_pool2d(x, factor) if factor > 1 else x


def shown_reals(x: Tensor, levels: int, state: GrowthState) -> Tensor:
    """Real images as D must see them at ``state`` (the reference code's ``process_reals``): average-pooled to the
    level's side, blended during a fade-in with their own 2× coarser version, ``(1 − α)·up₂(down₂(x_ℓ)) + α·x_ℓ``
    (as G's image is blended), and upsampled (nearest) back to the data's side."""
    factor = 2 ** (levels - state.level)
    image = downsample(x, factor)
    if state.fading:
        image = torch.lerp(upsample(downsample(image, 2), 2), image, state.alpha)
    return upsample(image, factor)


def _dormant_term(modules: Iterable[nn.Module]) -> Tensor | float:
    """``0 · Σ p`` over every parameter of ``modules`` (see the module docstring), or 0.0 when there are none."""
    total = [parameter.sum() for module in modules for parameter in module.parameters()]
    return torch.stack(total).sum() * 0.0 if total else 0.0


def _conv(in_channels: int, out_channels: int, normalise: bool) -> list[nn.Module]:
    """Conv 3×3, LReLU, and pixel norm in G."""
    return [EqualizedConv2d(in_channels, out_channels, 3), nn.LeakyReLU(LEAK), *([PixelNorm()] if normalise else [])]


class Growing(nn.Module):
    """A net with ``levels`` levels whose level and α are buffers (see the module docstring); it starts at level 0."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.levels = levels
        self.register_buffer("level", torch.tensor(0))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_growth(self, state: GrowthState) -> None:
        if not 0 <= state.level <= self.levels:
            raise ValueError(f"level {state.level} outside this net's 0..{self.levels}")
        self.level.fill_(state.level)
        self.alpha.fill_(state.alpha)

    def growth(self) -> tuple[int, float]:
        """(level, α) as Python numbers."""
        return int(self.level), float(self.alpha)

    def _in_use(self, level: int, alpha: float) -> tuple[int, ...]:
        """The levels whose RGB layer takes part at (level, α)."""
        return (level - 1, level) if alpha < 1.0 and level > 0 else (level,)


class GeneratorBase(nn.Module):
    """Level 0 of G: the normalised latent → 4×4×width."""

    def __init__(self, z_dim: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.dense = EqualizedLinear(z_dim, width * BASE_SIDE * BASE_SIDE, gain=BASE_GAIN, bias=False)
        self.bias = nn.Parameter(torch.zeros(width))  # per feature map, after the reshape (the reference code)
        self.conv = nn.Sequential(*_conv(width, width, normalise=True))

    def forward(self, z: Tensor) -> Tensor:
        h = self.dense(pixel_norm(z)).view(len(z), self.width, BASE_SIDE, BASE_SIDE) + self.bias[:, None, None]
        return self.conv(pixel_norm(F.leaky_relu(h, LEAK)))


class ProgressiveGenerator(Growing):
    """G (see the module docstring): ``z`` (N, z_dim) → images of the data's shape at the current level and α."""

    def __init__(self, spec: ProgressiveSpec) -> None:
        super().__init__(spec.levels)
        channels, width = spec.data_shape[0], spec.width
        self.base = GeneratorBase(spec.z_dim, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                  *_conv(width, width, True), *_conv(width, width, True))
                                    for _ in range(spec.levels))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(width, channels, 1, gain=1.0) for _ in range(spec.levels + 1))

    def forward(self, z: Tensor) -> Tensor:
        level, alpha = self.growth()
        features = self._features(z, level)
        image = self.to_rgb[level](features[level])
        if alpha < 1.0 and level > 0:
            image = torch.lerp(upsample(self.to_rgb[level - 1](features[level - 1]), 2), image, alpha)
        used = self._in_use(level, alpha)
        dormant = [*self.blocks[level:], *(layer for i, layer in enumerate(self.to_rgb) if i not in used)]
        return upsample(image, 2 ** (self.levels - level)) + _dormant_term(dormant)

    def _features(self, z: Tensor, level: int) -> list[Tensor]:
        """The feature maps of levels 0..``level``."""
        features = [self.base(z)]
        for block in self.blocks[:level]:
            features.append(block(features[-1]))
        return features

    def images_by_level(self, z: Tensor) -> list[Tensor]:
        """Each level's own image up to the current level, its to-RGB alone (α = 1), upsampled (nearest) to the
        data's side."""
        level, _ = self.growth()
        return [upsample(self.to_rgb[i](h), 2 ** (self.levels - i)) for i, h in enumerate(self._features(z, level))]


class ProgressiveDiscriminator(Growing):
    """D (see the module docstring): images of the data's shape → one critic value each, (N,)."""

    def __init__(self, spec: ProgressiveSpec) -> None:
        super().__init__(spec.levels)
        channels, width = spec.data_shape[0], spec.width
        self.from_rgb = nn.ModuleList(nn.Sequential(EqualizedConv2d(channels, width, 1), nn.LeakyReLU(LEAK))
                                      for _ in range(spec.levels + 1))
        # blocks[i] takes level i + 1 down to level i.
        self.blocks = nn.ModuleList(nn.Sequential(*_conv(width, width, False), *_conv(width, width, False),
                                                  nn.AvgPool2d(2)) for _ in range(spec.levels))
        stddev = MinibatchStdDev()
        self.final = nn.Sequential(stddev, *_conv(width + stddev.features, width, False),
                                   nn.Flatten(), EqualizedLinear(width * BASE_SIDE * BASE_SIDE, width),
                                   nn.LeakyReLU(LEAK), EqualizedLinear(width, 1, gain=1.0))

    def forward(self, x: Tensor) -> Tensor:
        level, alpha = self.growth()
        x = downsample(x, 2 ** (self.levels - level))
        h = self.from_rgb[level](x)
        if level > 0:
            h = self.blocks[level - 1](h)
            if alpha < 1.0:
                h = torch.lerp(self.from_rgb[level - 1](downsample(x, 2)), h, alpha)
            for block in reversed(self.blocks[:level - 1]):
                h = block(h)
        used = self._in_use(level, alpha)
        dormant = [*self.blocks[level:], *(layer for i, layer in enumerate(self.from_rgb) if i not in used)]
        return self.final(h).reshape(-1) + _dormant_term(dormant)
