"""A paired-translation toy (``toy-pix2pix``): the conditional GAN of Isola et al. (2017) with MLPs.

G maps the input image s to x's domain, its noise the paper's: dropout (p = 0.5) in G's layers, no z (latent_dim 0;
Sec. 3.1). D judges the pair (s, image), s and the image concatenated (Sec. 2.1). The objective, Eq. 4:
``G* = arg min_G max_D L_cGAN(G, D) + λ L_L1(G)``, with ``L_L1 = E‖x - G(s)‖₁`` and ``λ = families.toy-pix2pix.l1_weight``
(100, Sec. 4); G takes the non-saturating loss ``-E[log D(s, G(s))]``, D's objective is halved, Adam(2e-4, β =
(0.5, 0.999)) (Sec. 3.3). Dropout masks come from the run's RNG, so resuming is exact; evaluation samples run G in
eval mode, without dropout (the paper keeps it at test time: here z is the house's only sampling noise, and there
is none). Registered by the tests that import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.family import Batch, DataSpec, FAMILIES, Hyperparameters, Progress, RunContext, Variant
from models.family import register_family, register_variant
from models.losses import NonSaturatingLoss
from models.options import option
from models.translation import (AdamSettings, NamedNetworksRun, SupervisedObjective, TranslatorFamily, adam_settings,
                                supervised_step)
from tests.families.toy_parts import TOY_READS, ToyMLP

#: Isola et al. 2017, Sec. 3.1: "noise in the form of dropout, applied on several layers of our generator".
DROPOUT = 0.5


@dataclass(frozen=True)
class Pix2PixOptions:
    l1_weight: float = option(100.0, low=0.0, doc="λ of the L1 term (Isola et al. 2017, Eq. 4 and Sec. 4)")


@dataclass(frozen=True)
class Pix2PixSettings:
    width: int
    l1_weight: float
    adam: AdamSettings


class PairCritic(nn.Module):
    """D(image, {"source": s}): one logit for the pair, s and the image concatenated along the channels."""

    def __init__(self, data: DataSpec, width: int) -> None:
        super().__init__()
        self.net = ToyMLP(math.prod(data.source_shape or ()) + math.prod(data.shape), (), width)

    def forward(self, image: Tensor, conditions: Batch) -> Tensor:
        return self.net(torch.cat([conditions["source"], image], dim=1))


def generator_of(settings: Pix2PixSettings, data: DataSpec) -> ToyMLP:
    return ToyMLP(math.prod(data.source_shape or ()), data.shape, settings.width, squash=True, dropout=DROPOUT)


class Pix2PixRun(NamedNetworksRun):
    def __init__(self, settings: Pix2PixSettings, data: DataSpec, context: RunContext) -> None:
        super().__init__(lambda: {"generator": generator_of(settings, data), "discriminator": PairCritic(data, settings.width)},
                         {"generator": ("generator",), "discriminator": ("discriminator",)}, settings.adam,
                         ToyPix2PixFamily.sampler_networks, context)
        self.objective = SupervisedObjective(NonSaturatingLoss(), F.l1_loss, content_weight=settings.l1_weight,
                                             d_scale=0.5, pairs=True)

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        batch = next_batch()
        return supervised_step(self, self.objective, batch["source"], batch["x"], noise=rng)


class ToyPix2PixFamily(TranslatorFamily):
    name = "toy-pix2pix"
    task = "paired-translation"
    reference = "Isola et al. 2017 (pix2pix), Eq. 4"
    settings = Pix2PixSettings
    options = Pix2PixOptions
    sampler_networks = {"generator": "generator"}
    step_metrics = {"loss_d": "loss/d", "loss_g": "loss/g", "content": "loss/l1", "d_real": "d/real", "d_fake": "d/fake"}
    reads = TOY_READS

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> Pix2PixSettings:
        return Pix2PixSettings(width=hyper.network.width, l1_weight=(hyper.options or Pix2PixOptions()).l1_weight,
                               adam=adam_settings(variant, hyper))

    def create(self, settings: Pix2PixSettings, data: DataSpec, context: RunContext) -> Pix2PixRun:
        return Pix2PixRun(settings, data, context)

    def build_sampler(self, settings: Pix2PixSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return generator_of(settings, data)


if ToyPix2PixFamily.name not in FAMILIES:
    register_family(ToyPix2PixFamily())
    register_variant(Variant("toy-pix2pix", "toy-pix2pix", NonSaturatingLoss, reference=ToyPix2PixFamily.reference))
