"""The smallest honest unconditional GAN (``toy-gan``): Algorithm 1 of Goodfellow et al. (2014) with MLPs.

G maps z ~ N(0, I) to a sample (tanh for images), D a sample to one logit. D minimises
``-E[log D(x)] - E[log(1 - D(G(z)))]``, G the non-saturating ``-E[log D(G(z))]`` (Sec. 3 of the paper); ``k`` D
updates per G update (``families.toy-gan.k``, 1 in the paper's experiments) through the shared step
(:func:`models.step.train_step`); Adam(2e-4, β = (0.5, 0.999)) as DCGAN. Points or images alike. Registered by the
tests that import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from models.family import Batch, DataSpec, FAMILIES, Hyperparameters, Progress, RunContext, Variant
from models.family import register_family, register_variant
from models.losses import NonSaturatingLoss
from models.options import option
from models.step import Objective, train_step
from models.translation import AdamSettings, NamedNetworksFamily, NamedNetworksRun, adam_settings
from tests.families.toy_parts import TOY_READS, ToyMLP


@dataclass(frozen=True)
class GANOptions:
    k: int = option(1, low=1, doc="discriminator updates per generator update (Goodfellow et al. 2014, Alg. 1)")


@dataclass(frozen=True)
class GANSettings:
    width: int
    z_dim: int
    k: int
    adam: AdamSettings


def generator_of(settings: GANSettings, data: DataSpec) -> ToyMLP:
    return ToyMLP(settings.z_dim, data.shape, settings.width, squash=data.kind == "images")


class ToyGANRun(NamedNetworksRun):
    def __init__(self, settings: GANSettings, data: DataSpec, context: RunContext) -> None:
        self.settings = settings
        super().__init__(lambda: {"generator": generator_of(settings, data),
                                  "discriminator": ToyMLP(math.prod(data.shape), (), settings.width)},
                         {"generator": ("generator",), "discriminator": ("discriminator",)}, settings.adam,
                         ToyGANFamily.sampler_networks, context)
        self.objective = Objective(NonSaturatingLoss())

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        return train_step(self.nets["generator"], self.nets["discriminator"], self.optimisers["generator"],
                          self.optimisers["discriminator"], self.objective, lambda: next_batch()["x"],
                          lambda n: torch.randn(n, self.settings.z_dim, device=self.device, generator=rng),
                          self.settings.k, rng=rng, progress=progress).as_dict()


class ToyGANFamily(NamedNetworksFamily):
    name = "toy-gan"
    task = "unconditional"
    reference = "Goodfellow et al. 2014, Algorithm 1 (non-saturating G loss)"
    settings = GANSettings
    options = GANOptions
    sampler_networks = {"generator": "generator"}
    step_metrics = {"loss_d": "loss/d", "loss_g": "loss/g", "d_real": "d/real", "d_fake": "d/fake"}
    reads = (*TOY_READS, "model.z_dim")

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> GANSettings:
        return GANSettings(width=hyper.network.width, z_dim=hyper.network.z_dim,
                           k=(hyper.options or GANOptions()).k, adam=adam_settings(variant, hyper))

    def create(self, settings: GANSettings, data: DataSpec, context: RunContext) -> ToyGANRun:
        return ToyGANRun(settings, data, context)

    def build_sampler(self, settings: GANSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return generator_of(settings, data)

    def latent_dim(self, settings: GANSettings) -> int:
        return settings.z_dim


if ToyGANFamily.name not in FAMILIES:
    register_family(ToyGANFamily())
    register_variant(Variant("toy-gan", "toy-gan", NonSaturatingLoss, reference=ToyGANFamily.reference))
