"""A class-conditional toy family (``toy-cgan``): the conditional GAN of Mirza & Osindero (2014) as small MLPs.

G gets ``[z, onehot(y)]``, D gets ``[x, onehot(y)]`` (both conditioned by concatenation, Sec. 3.2 of the
paper); the non-saturating loss, Adam(2e-4, β = (0.5, 0.999)), one D step per G step through the shared step
(:func:`models.step.train_step` with the labels as conditions; G asked for uniformly drawn classes); sampling
may truncate z (``sampling.toy-cgan.psi``). Registered by the
tests that import it, it touches nothing outside this module: everything the training loop, checkpoints,
MLflow and the scorers need goes through :class:`models.family.Family`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.family import (Batch, Curve, DataSpec, Family, FamilyRun, Hyperparameters, Progress, RunContext, Variant,
                           FAMILIES, register_family, register_variant)
from models.losses import NonSaturatingLoss
from models.options import option
from models.step import Objective, train_step, unwrap
from models.truncation import truncated_normal


@dataclass(frozen=True)
class ToySettings:
    shape: tuple[int, ...]
    n_classes: int
    z_dim: int
    width: int
    lr: float
    betas: tuple[float, float]


class ConditionalMLP(nn.Module):
    """[input, onehot(y)] → [Linear, LeakyReLU(0.2)] × 2 → Linear → ``out_shape`` (tanh for G's images)."""

    def __init__(self, in_features: int, n_classes: int, width: int, out_shape: tuple[int, ...], squash: bool) -> None:
        super().__init__()
        self.n_classes, self.out_shape = n_classes, out_shape
        self.net = nn.Sequential(nn.Linear(in_features + n_classes, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Linear(width, math.prod(out_shape)),
                                 *([nn.Tanh()] if squash else []))

    def forward(self, inputs: Tensor, conditions: dict[str, Tensor]) -> Tensor:
        joint = torch.cat([inputs.flatten(1), F.one_hot(conditions["y"], self.n_classes).float()], dim=1)
        return self.net(joint).view(len(inputs), *self.out_shape)


class ToyRun(FamilyRun):
    def __init__(self, settings: ToySettings, context: RunContext) -> None:
        self.settings, self.device = settings, context.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            generator = ConditionalMLP(settings.z_dim, settings.n_classes, settings.width, settings.shape, True)
            discriminator = ConditionalMLP(math.prod(settings.shape), settings.n_classes, settings.width, (), False)
        self.generator = context.wrap(generator.to(self.device))
        self.discriminator = context.wrap(discriminator.to(self.device))
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=settings.lr, betas=settings.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=settings.lr, betas=settings.betas)
        self.objective = Objective(NonSaturatingLoss())

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        def sampled_labels(conditions: Batch) -> Batch:  # G is asked for uniformly drawn classes
            return {"y": torch.randint(self.settings.n_classes, conditions["y"].shape, device=self.device, generator=rng)}

        return train_step(self.generator, self.discriminator, self.opt_g, self.opt_d, self.objective, next_batch,
                          lambda n: torch.randn(n, self.settings.z_dim, device=self.device, generator=rng), 1, rng=rng,
                          fake_conditions=sampled_labels, progress=progress).as_dict()

    def sampler(self, name: str | None = None) -> nn.Module:
        return unwrap(self.generator)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.sampler(), "discriminator": unwrap(self.discriminator)}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.sampler().state_dict(), "discriminator": self.modules()["discriminator"].state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler().load_state_dict(state["generator"])
        self.modules()["discriminator"].load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])

    def use_settings(self, settings: ToySettings) -> None:
        for optimiser in (self.opt_g, self.opt_d):
            for group in optimiser.param_groups:
                group["lr"] = settings.lr


@dataclass(frozen=True)
class ToySampling:
    """Sampling options: BigGAN's truncation of z (:mod:`models.truncation`)."""

    psi: float | None = option(None, low=0.0, open_low=True, doc="truncate z to [-psi, psi]; null: no truncation")


class ToyConditionalFamily(Family):
    name = "toy-cgan"
    task = "class-conditional"
    reference = "Mirza & Osindero 2014"
    settings = ToySettings
    sampling_options = ToySampling
    step_metrics = {"loss_d": "loss/d", "loss_g": "loss/g"}
    curves = (Curve(("loss_d",), "Discriminator loss", "L_D"),)
    reads = ("model.z_dim", "model.width", "train.lr_g", "train.betas")

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> ToySettings:
        defaults = variant.optimiser
        return ToySettings(shape=tuple(data.shape), n_classes=data.n_classes, z_dim=hyper.network.z_dim,
                           width=hyper.network.width, lr=hyper.optimiser.lr_g or defaults.lr_g,
                           betas=hyper.optimiser.betas or defaults.betas)

    def create(self, settings: ToySettings, data: DataSpec, context: RunContext) -> ToyRun:
        return ToyRun(settings, context)

    def build_sampler(self, settings: ToySettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return ConditionalMLP(settings.z_dim, settings.n_classes, settings.width, settings.shape, True)

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return state["generator"]

    def latent_dim(self, settings: ToySettings) -> int:
        return settings.z_dim

    def sample_noise(self, n: int, latent_dim: int, rng: torch.Generator, options: ToySampling | None = None) -> Tensor:
        return truncated_normal(n, latent_dim, options.psi if options is not None else None, rng)

    def generate(self, sampler: nn.Module, z: Tensor, conditions: Batch, options: ToySampling | None = None) -> Tensor:
        return sampler(z, conditions)


if ToyConditionalFamily.name not in FAMILIES:
    register_family(ToyConditionalFamily())
    register_variant(Variant("toy-cgan", "toy-cgan", NonSaturatingLoss, reference="Mirza & Osindero 2014"))
