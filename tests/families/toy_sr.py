"""A super-resolution toy (``toy-sr``): SRGAN of Ledig et al. (2017), its MSE-content variant, with small nets.

G upsamples the low-resolution input s to x's size (bicubic) and adds what two 3×3 convolutions with a PReLU
between them make of that (SRGAN's G is convolutional with PReLUs, Sec. 2.2; no z, latent_dim 0); D is an MLP giving
one logit. G minimises the perceptual loss of Eq. 3 with the pixel-wise MSE as content (Eq. 5, SRGAN-MSE):
``MSE(G(s), x) + w · (-E[log D(G(s))])``, ``w = families.toy-sr.adversarial_weight`` (10⁻³); D the standard
``-E[log D(x)] - E[log(1 - D(G(s)))]``; Adam(10⁻⁴, β₁ = 0.9) (Sec. 3.2). Registered by the tests that import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.family import (Batch, DataSpec, FAMILIES, FamilyError, Hyperparameters, OptimiserDefaults, Progress,
                           RunContext, Variant, register_family, register_variant)
from models.losses import NonSaturatingLoss
from models.options import option
from models.translation import (AdamSettings, NamedNetworksRun, SupervisedObjective, TranslatorFamily, adam_settings,
                                supervised_step)
from tests.families.toy_parts import TOY_READS, ToyMLP

#: Ledig et al. 2017, Sec. 3.2: Adam with β₁ = 0.9 and a learning rate of 10⁻⁴.
SRGAN_ADAM = OptimiserDefaults(lr_g=1.0e-4, lr_d=1.0e-4, betas=(0.9, 0.999))


@dataclass(frozen=True)
class SROptions:
    adversarial_weight: float = option(1.0e-3, low=0.0, doc="weight of G's adversarial loss (Ledig et al. 2017, Eq. 3)")


@dataclass(frozen=True)
class SRSettings:
    width: int
    adversarial_weight: float
    adam: AdamSettings


class Upsampler(nn.Module):
    """s → bicubic(s) + conv(PReLU(conv(bicubic(s)))) at ``size``."""

    def __init__(self, channels: int, size: tuple[int, ...], width: int) -> None:
        super().__init__()
        self.size = tuple(size)
        self.refine = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.PReLU(),
                                    nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, source: Tensor) -> Tensor:
        upsampled = F.interpolate(source, size=self.size, mode="bicubic", align_corners=False)
        return upsampled + self.refine(upsampled)


def generator_of(settings: SRSettings, data: DataSpec) -> Upsampler:
    return Upsampler(data.shape[0], data.shape[1:], settings.width)


class SRRun(NamedNetworksRun):
    def __init__(self, settings: SRSettings, data: DataSpec, context: RunContext) -> None:
        super().__init__(lambda: {"generator": generator_of(settings, data),
                                  "discriminator": ToyMLP(math.prod(data.shape), (), settings.width)},
                         {"generator": ("generator",), "discriminator": ("discriminator",)}, settings.adam,
                         ToySRFamily.sampler_networks, context)
        self.objective = SupervisedObjective(NonSaturatingLoss(), F.mse_loss,
                                             adversarial_weight=settings.adversarial_weight)

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        batch = next_batch()
        return supervised_step(self, self.objective, batch["source"], batch["x"])


class ToySRFamily(TranslatorFamily):
    name = "toy-sr"
    task = "super-resolution"
    reference = "Ledig et al. 2017 (SRGAN-MSE), Eq. 3 and 5"
    settings = SRSettings
    options = SROptions
    sampler_networks = {"generator": "generator"}
    step_metrics = {"loss_d": "loss/d", "loss_g": "loss/g", "content": "loss/mse", "d_real": "d/real", "d_fake": "d/fake"}
    reads = TOY_READS

    def check_data(self, data: DataSpec) -> None:
        """The base rules (smaller, paired inputs), and inputs with x's channels: this G upsamples them."""
        super().check_data(data)
        if data.source_shape[0] != data.shape[0]:
            raise FamilyError(f"family {self.name} upsamples its inputs and needs them with x's {data.shape[0]} "
                              f"channel(s), got {data.source_shape[0]}")

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> SRSettings:
        return SRSettings(width=hyper.network.width,
                          adversarial_weight=(hyper.options or SROptions()).adversarial_weight,
                          adam=adam_settings(variant, hyper))

    def create(self, settings: SRSettings, data: DataSpec, context: RunContext) -> SRRun:
        return SRRun(settings, data, context)

    def build_sampler(self, settings: SRSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return generator_of(settings, data)


if ToySRFamily.name not in FAMILIES:
    register_family(ToySRFamily())
    register_variant(Variant("toy-sr", "toy-sr", NonSaturatingLoss, optimiser=SRGAN_ADAM, reference=ToySRFamily.reference))
