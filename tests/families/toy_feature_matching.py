"""A test family that trains with the feature network (``toy-feature-matching``): an MLP generator whose only loss
is Salimans et al.'s (2016, Sec. 3.1) feature matching, ``‖E φ(x) − E φ(G(z))‖²``, with φ the content-addressed
feature network the house gives a family that asks for it (the dataset's domain classifier, frozen) instead of an
intermediate layer of D. No discriminator: a moment-matching generator in a fixed feature space.

Registered by the tests that import it; it touches nothing outside this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from models.family import (FAMILIES, Batch, DataSpec, Family, FamilyRun, Hyperparameters, Progress, RunContext,
                           Variant, register_family, register_variant)
from models.losses import NonSaturatingLoss
from models.step import unwrap


@dataclass(frozen=True)
class FeatureMatchingSettings:
    shape: tuple[int, ...]
    z_dim: int
    width: int
    lr: float


def generator(settings: FeatureMatchingSettings) -> nn.Module:
    return nn.Sequential(nn.Linear(settings.z_dim, settings.width), nn.ReLU(),
                         nn.Linear(settings.width, math.prod(settings.shape)), nn.Tanh(), nn.Unflatten(1, settings.shape))


class FeatureMatchingRun(FamilyRun):
    def __init__(self, settings: FeatureMatchingSettings, context: RunContext) -> None:
        if context.feature_network is None:
            raise ValueError("toy-feature-matching needs the feature network in its run context")
        self.settings, self.device, self.features = settings, context.device, context.feature_network
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            self.generator = context.wrap(generator(settings).to(self.device))
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=settings.lr, betas=(0.5, 0.999))

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        real = next_batch()["x"]
        z = torch.randn(len(real), self.settings.z_dim, device=self.device, generator=rng)
        loss = (self.features(real).mean(0) - self.features(self.generator(z)).mean(0)).pow(2).sum()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return {"loss_g": loss.item()}

    def sampler(self, name: str | None = None) -> nn.Module:
        return unwrap(self.generator)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.sampler()}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.sampler().state_dict(), "opt_g": self.opt_g.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler().load_state_dict(state["generator"])
        self.opt_g.load_state_dict(state["opt_g"])

    def use_settings(self, settings: FeatureMatchingSettings) -> None:
        for group in self.opt_g.param_groups:
            group["lr"] = settings.lr


class FeatureMatchingFamily(Family):
    name = "toy-feature-matching"
    task = "unconditional"
    reference = "Salimans et al. 2016, Sec. 3.1 (feature matching)"
    settings = FeatureMatchingSettings
    uses_feature_network = True
    step_metrics = {"loss_g": "loss/g"}
    reads = ("model.z_dim", "model.width", "train.lr_g")

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> FeatureMatchingSettings:
        return FeatureMatchingSettings(tuple(data.shape), hyper.network.z_dim, hyper.network.width,
                                       hyper.optimiser.lr_g or variant.optimiser.lr_g)

    def create(self, settings: FeatureMatchingSettings, data: DataSpec, context: RunContext) -> FeatureMatchingRun:
        return FeatureMatchingRun(settings, context)

    def build_sampler(self, settings: FeatureMatchingSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return generator(settings)

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return state["generator"]

    def latent_dim(self, settings: FeatureMatchingSettings) -> int:
        return settings.z_dim


if FeatureMatchingFamily.name not in FAMILIES:
    register_family(FeatureMatchingFamily())
    register_variant(Variant("toy-feature-matching", "toy-feature-matching", NonSaturatingLoss,
                             reference="Salimans et al. 2016, Sec. 3.1"))
