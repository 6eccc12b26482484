"""StyleGAN2's generator and discriminator (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"), small and in pure PyTorch (no custom CUDA operations; runs on a CPU).

**Generator** = mapping network + synthesis network (Karras et al. 2019, Sec. 2, Fig. 1b):

* **Mapping** ``z → w``: z normalised to unit second moment, then ``layers`` fully connected layers with leaky ReLU
  (2019: 8; NVlabs' ``cifar`` configuration: 2), their learning rate scaled by 0.01 (2019, Appendix C). It keeps
  ``w_avg``, a running mean of ``w`` over training batches, ``w̄ ← β w̄ + (1 − β) mean(w)`` with β = 0.995 (the
  reference's ``w_avg_beta``), for the **truncation trick** in W (2019, Sec. 3.2 / Eq. 3):
  ``w' = w̄ + ψ (w − w̄)``; ψ = 1 leaves w as it is, ψ = 0 gives w̄.
* **Synthesis** (2020, Fig. 2d and the "skip" generator of Fig. 7b): a learned constant 4×4 input; per resolution
  4, 8, …, side: (at 8 and up) 2× upsampling and a 3×3 modulated convolution, then a 3×3 modulated convolution, each
  followed by per-pixel Gaussian noise times a learned per-layer strength (2019, Sec. 2: "noise inputs"), a bias and
  leaky ReLU(0.2)·√2; a **ToRGB** of each resolution (a 1×1 modulated convolution without demodulation) is added
  to the upsampled image of the resolutions below. Upsampling is bilinear: the reference's [1, 3, 3, 1] filter up
  to how the border is padded.
* **Styles**: one ``w`` per layer, ``num_ws`` of them (the reference's indexing: each resolution's ToRGB shares
  its ``w`` with the next resolution's first convolution), so **style mixing** is a crossover index ``c``: layers
  ``< c`` take one latent's ``w``, the others another's (2019, Sec. 3.1).
* **Modulated convolution with demodulation** (2020, Sec. 2.2, Eq. 1-3): the style ``s = A(w)`` (an affine layer,
  bias initialised to 1) scales the input feature maps, ``w'_ijk = s_i · w_ijk``, and demodulation rescales each
  output map, ``w''_ijk = w'_ijk / sqrt(Σ_{i,k} w'_ijk² + ε)``, so that unit-variance inputs give unit-variance
  outputs. Computed as the reference does in training (``fused_modconv=False``): inputs times ``s``, one shared
  convolution, outputs times the demodulation coefficients -- the same numbers as a per-sample grouped convolution.

**Discriminator**: the reference's "orig" architecture, which its ``cifar`` configuration uses: a 1×1 FromRGB at the
data's side; per resolution side, …, 8: two 3×3 convolutions, the second after 2× downsampling (2×2 average
pooling; the reference blurs with [1, 3, 3, 1] and strides); at 4×4 the epilogue: the minibatch standard deviation
(Karras et al. 2018, Sec. 3; one extra feature map, groups of ``mbstd_group`` samples), a 3×3 convolution, a fully
connected layer and the linear output.

**Equalised learning rate** (Karras et al. 2018, Sec. 4.1) in every layer (:mod:`models.equalized`, with gain 1:
StyleGAN2 puts the √2 after the activation, :func:`leaky_relu`): weights are stored as ``N(0, 1) / λ`` and multiplied
at run time by ``λ / sqrt(fan_in)`` (λ: the layer's learning-rate multiplier), biases by ``λ``; so Adam's steps have
the same scale in every layer.
Widths: ``width`` channels at every resolution (the reference: ``min(32768 / resolution, 512)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.equalized import EqualizedConv2d, EqualizedLinear
from models.minibatch_stddev import minibatch_stddev

#: Sides the networks are built for (4×4 constant input, one resolution per doubling).
SIDES = (8, 16, 32)
#: Leaky ReLU's negative slope and the gain that keeps its output's second moment (the reference's ``lrelu``).
LEAKY_SLOPE = 0.2
LEAKY_GAIN = math.sqrt(2.0)
#: ε of the demodulation and of z's normalisation (the reference's 1e-8).
EPSILON = 1.0e-8


@dataclass(frozen=True)
class StyleSpec:
    """The shapes of a StyleGAN2 pair: the data's (C, H, W), z and w sizes, channels at every resolution, the
    mapping network's depth and learning-rate multiplier, w̄'s decay and the minibatch-stddev group size."""

    data_shape: tuple[int, ...]
    z_dim: int
    w_dim: int
    width: int
    mapping_layers: int = 2
    mapping_lr: float = 0.01
    w_avg_beta: float = 0.995
    mbstd_group: int = 32

    def __post_init__(self) -> None:
        if len(self.data_shape) != 3 or self.data_shape[0] not in (1, 3):
            raise ValueError(f"the StyleGAN2 nets need image data (C, H, W) with 1 or 3 channels, got shape "
                             f"{tuple(self.data_shape)}")
        channels, height, width = self.data_shape
        if height != width or height not in SIDES:
            raise ValueError(f"the StyleGAN2 nets need square images of side {', '.join(map(str, SIDES))}, got "
                             f"{height}×{width}")

    @property
    def side(self) -> int:
        return self.data_shape[1]

    @property
    def resolutions(self) -> tuple[int, ...]:
        """4, 8, …, side."""
        return tuple(4 * 2 ** level for level in range(int(math.log2(self.side)) - 1))


def leaky_relu(x: Tensor) -> Tensor:
    """Leaky ReLU(0.2) times √2 (the reference's ``bias_act(act='lrelu')`` gain)."""
    return F.leaky_relu(x, LEAKY_SLOPE) * LEAKY_GAIN


def dense(in_features: int, out_features: int, bias_init: float = 0.0, lr_multiplier: float = 1.0,
          activation: bool = False) -> nn.Module:
    """An equalised fully connected layer of gain 1 (:class:`models.equalized.EqualizedLinear`), optionally followed
    by :func:`leaky_relu`."""
    layer = EqualizedLinear(in_features, out_features, gain=1.0, lr_multiplier=lr_multiplier, bias_init=bias_init)
    return nn.Sequential(layer, LeakyReLU()) if activation else layer


class LeakyReLU(nn.Module):
    """:func:`leaky_relu` as a layer."""

    def forward(self, x: Tensor) -> Tensor:
        return leaky_relu(x)


class DiscriminatorConv(nn.Module):
    """D's layer: optional 2×2 average-pool downsampling, an equalised ``kernel``×``kernel`` convolution of gain 1
    (:class:`models.equalized.EqualizedConv2d`), optional :func:`leaky_relu`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, activation: bool = True,
                 down: bool = False) -> None:
        super().__init__()
        self.conv = EqualizedConv2d(in_channels, out_channels, kernel, gain=1.0)
        self.activation, self.down = activation, down

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(F.avg_pool2d(x, 2) if self.down else x)
        return leaky_relu(y) if self.activation else y


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True) -> Tensor:
    """StyleGAN2's modulated convolution (Karras et al. 2020, Eq. 1-3) of ``x`` (N, I, H, W) with ``weight``
    (O, I, k, k) and per-sample ``styles`` (N, I): ``w'_ijk = s_i w_ijk``, with demodulation
    ``w''_ijk = w'_ijk / sqrt(Σ_{i,k} w'_ijk² + ε)`` per sample and output map; same padding."""
    y = F.conv2d(x * styles[:, :, None, None], weight, padding=weight.shape[-1] // 2)
    if demodulate:
        coefficients = (styles.square() @ weight.square().sum(dim=(2, 3)).T + EPSILON).rsqrt()  # (N, O)
        y = y * coefficients[:, :, None, None]
    return y


class StyleConv(nn.Module):
    """One synthesis layer: [2× upsampling,] a 3×3 modulated, demodulated convolution, noise times a learned
    strength (zero at first), a bias and leaky ReLU. The noise is fresh per-pixel N(0, 1) drawn from a given RNG,
    or (without one) the layer's fixed ``noise_const`` map (the reference's ``noise_mode='const'``)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False) -> None:
        super().__init__()
        self.affine = dense(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.up, self.resolution = up, resolution

    def forward(self, x: Tensor, w: Tensor, rng: torch.Generator | None = None) -> Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        y = modulated_conv2d(x, self.weight, self.affine(w))
        if rng is None:
            noise = self.noise_const
        else:
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, generator=rng)
        return leaky_relu(y + noise * self.noise_strength + self.bias[:, None, None])


class ToRGB(nn.Module):
    """A 1×1 modulated convolution without demodulation (style scaled by ``1 / sqrt(fan_in)``) plus a bias: one
    resolution's contribution to the image (Karras et al. 2020, Fig. 7b)."""

    def __init__(self, in_channels: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = dense(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.style_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        y = modulated_conv2d(x, self.weight, self.affine(w) * self.style_gain, demodulate=False)
        return y + self.bias[:, None, None]


class SynthesisBlock(nn.Module):
    """One resolution: its convolutions (the first upsampling, except at 4×4) and its ToRGB."""

    def __init__(self, channels: int, width: int, w_dim: int, resolution: int) -> None:
        super().__init__()
        first = resolution == 4
        layers = [StyleConv(width, width, w_dim, resolution)] if first else [
            StyleConv(width, width, w_dim, resolution, up=True), StyleConv(width, width, w_dim, resolution)]
        self.convs = nn.ModuleList(layers)
        self.to_rgb = ToRGB(width, channels, w_dim)

    def forward(self, x: Tensor, image: Tensor | None, ws: Tensor,
                rng: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """``ws``: (N, convolutions + 1, w_dim), the last one the ToRGB's."""
        for index, conv in enumerate(self.convs):
            x = conv(x, ws[:, index], rng)
        rgb = self.to_rgb(x, ws[:, len(self.convs)])
        if image is not None:
            rgb = rgb + F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
        return x, rgb


class Synthesis(nn.Module):
    """Styles (N, num_ws, w_dim) → image (N, C, side, side), from the learned constant (see the module docstring)."""

    def __init__(self, spec: StyleSpec) -> None:
        super().__init__()
        self.const = nn.Parameter(torch.randn(spec.width, 4, 4))
        self.blocks = nn.ModuleList(SynthesisBlock(spec.data_shape[0], spec.width, spec.w_dim, resolution)
                                    for resolution in spec.resolutions)
        #: The index of each block's first style.
        self.starts = tuple(sum(len(block.convs) for block in self.blocks[:index]) for index in range(len(self.blocks)))
        self.num_ws = self.starts[-1] + len(self.blocks[-1].convs) + 1

    def forward(self, ws: Tensor, rng: torch.Generator | None = None) -> Tensor:
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        image = None
        for start, block in zip(self.starts, self.blocks):
            x, image = block(x, image, ws[:, start : start + len(block.convs) + 1], rng)
        return image


class MappingNetwork(nn.Module):
    """z → w: normalised z, then ``layers`` equalised fully connected layers with leaky ReLU at ``lr_multiplier``;
    tracks ``w_avg`` in training (see the module docstring)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_multiplier: float, w_avg_beta: float) -> None:
        super().__init__()
        sizes = [z_dim] + [w_dim] * layers
        self.layers = nn.Sequential(*(dense(sizes[i], sizes[i + 1], lr_multiplier=lr_multiplier, activation=True)
                                      for i in range(layers)))
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, track: bool = True) -> Tensor:
        """w of ``z``; in training mode with ``track``, w̄ ← β w̄ + (1 − β) mean(w) (the reference skips it for
        the second latent of style mixing)."""
        w = self.layers(z * (z.square().mean(dim=1, keepdim=True) + EPSILON).rsqrt())
        if track and self.training:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        return w

    def truncate(self, w: Tensor, psi: float) -> Tensor:
        """The truncation trick in W: ``w̄ + ψ (w − w̄)`` (exactly w̄ at ψ = 0 and w at ψ = 1)."""
        return torch.lerp(self.w_avg.to(w.dtype).expand_as(w), w, psi)


def mix_styles(ws: Tensor, other: Tensor, crossover: int) -> Tensor:
    """Style mixing (Karras et al. 2019, Sec. 3.1): the layers before ``crossover`` keep ``ws``, the others take
    ``other``'s (both (N, num_ws, w_dim))."""
    return torch.cat([ws[:, :crossover], other[:, crossover:]], dim=1)


class StyleGenerator(nn.Module):
    """StyleGAN2's G (see the module docstring): ``G(z, psi, rng, mixing)``."""

    def __init__(self, spec: StyleSpec) -> None:
        super().__init__()
        self.mapping = MappingNetwork(spec.z_dim, spec.w_dim, spec.mapping_layers, spec.mapping_lr, spec.w_avg_beta)
        self.synthesis = Synthesis(spec)
        self.num_ws = self.synthesis.num_ws

    def styles(self, z: Tensor, psi: float = 1.0, track: bool = True) -> Tensor:
        """Every layer's w of ``z``, truncated by ψ: (N, num_ws, w_dim)."""
        w = self.mapping(z, track)
        if psi != 1.0:
            w = self.mapping.truncate(w, psi)
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    def forward(self, z: Tensor, psi: float = 1.0, rng: torch.Generator | None = None, mixing: float = 0.0) -> Tensor:
        """Images of ``z`` with truncation ψ. With ``rng`` (training): fresh noise maps and, with probability
        ``mixing``, style mixing with a second latent at a crossover drawn uniformly from 1, …, num_ws − 1 (the
        reference draws the crossover, the coin and the second z whenever mixing is on). Without: the layers'
        fixed noise maps and no mixing."""
        ws = self.styles(z, psi)
        if mixing > 0.0:
            if rng is None:
                raise ValueError("style mixing draws its latents and crossover from an RNG; none was given")
            crossover = int(torch.randint(1, self.num_ws, (), device=z.device, generator=rng))
            other = torch.randn(z.shape, device=z.device, generator=rng)
            if bool(torch.rand((), device=z.device, generator=rng) < mixing):
                ws = mix_styles(ws, self.styles(other, psi, track=False), crossover)
        return self.synthesis(ws, rng)


def stddev_group(batch: int, group_size: int) -> int:
    """The minibatch-stddev group: the largest divisor of the batch up to ``group_size`` (the reference requires the
    batch to be a multiple of the group; this also takes a batch that is not)."""
    return max(size for size in range(1, min(group_size, batch) + 1) if batch % size == 0)


class StyleDiscriminator(nn.Module):
    """StyleGAN2's D, the reference's "orig" architecture (see the module docstring): image → one logit."""

    def __init__(self, spec: StyleSpec) -> None:
        super().__init__()
        width = spec.width
        self.from_rgb = DiscriminatorConv(spec.data_shape[0], width, 1)
        self.blocks = nn.Sequential(*(
            nn.Sequential(DiscriminatorConv(width, width, 3), DiscriminatorConv(width, width, 3, down=True))
            for _ in spec.resolutions[1:]))
        self.mbstd_group = spec.mbstd_group
        self.conv = DiscriminatorConv(width + 1, width, 3)
        self.fc = dense(width * 16, width, activation=True)
        self.out = dense(width, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.from_rgb(x))
        h = self.conv(minibatch_stddev(h, stddev_group(h.shape[0], self.mbstd_group)))
        return self.out(self.fc(h.flatten(start_dim=1))).squeeze(1)
