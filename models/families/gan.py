"""The ``gan`` family: an MLP or DCGAN generator and discriminator trained by Algorithm 1 of Goodfellow et al.
(2014), with any adversarial loss and any regulariser -- the six classic variants of the benchmark.

| variant | loss | regulariser | optimiser (paper) |
| --- | --- | --- | --- |
| ``minimax`` | minimax (saturating G loss), Goodfellow et al. 2014, Eq. 1 | none | Adam 2e-4, β = (0.5, 0.999), k = 1 (DCGAN) |
| ``non-saturating`` | non-saturating, Goodfellow et al. 2014, Sec. 3 | none | same |
| ``wgan`` | Wasserstein, Arjovsky et al. 2017 | weight clipping c = 0.01 | RMSprop 5e-5, k = 5 |
| ``wgan-gp`` | Wasserstein, Gulrajani et al. 2017 | gradient penalty λ = 10 | Adam 1e-4, β = (0, 0.9), k = 5 |
| ``lsgan`` | least squares a = 0, b = c = 1, Mao et al. 2017 | none | Adam 2e-4 (DCGAN) |
| ``hinge`` | hinge, Lim & Ye 2017; Miyato et al. 2018 | none | Adam 2e-4 (DCGAN) |

``model.arch: auto`` is ``mlp`` for 2-D points and ``dcgan`` for images; ``model.norm: auto`` gives D no
normalisation (mlp), layer normalisation with a per-sample penalty (Gulrajani et al. 2017, Sec. 4), else
BatchNorm (Radford et al. 2016).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from models.family import (DataSpec, Family, FamilyError, Hyperparameters, OptimiserDefaults, RunContext,
                           Variant, register_family, register_variant)
from models.losses import HingeLoss, LeastSquaresLoss, MinimaxLoss, NonSaturatingLoss, WassersteinLoss
from models.networks import NetworkSpec, build_discriminator, build_generator
from models.pair_run import (PAIR_CURVES, PAIR_STEP_METRICS, ObjectiveSettings, OptimiserSettings, PairRun,
                             resolve_objective, resolve_optimiser, sampler_kind, sampler_weights)
from models.regularisers import REGULARISER_TYPES
from models.step import Objective


@dataclass(frozen=True)
class GANSettings(ObjectiveSettings):
    """One resolved ``gan`` run: networks, optimisers, the loss and the regulariser with their coefficients."""

    network: NetworkSpec
    optimiser: OptimiserSettings


def check_critic_norm(norm: str, regulariser: str) -> str | None:
    """Why a critic normalisation cannot go with a regulariser, or None (Gulrajani et al. 2017, Sec. 4: the
    gradient penalty is per sample, so batch statistics in the critic make it wrong)."""
    if norm == "batch" and REGULARISER_TYPES[regulariser].per_sample:
        return (f"model.norm: batch cannot be used with the {regulariser} regulariser: the penalty is computed per "
                "sample, which batch normalisation in the critic breaks (Gulrajani et al. 2017, Sec. 4); use "
                "model.norm: layer (or auto)")
    return None


class GANFamily(Family):
    name = "gan"
    task = "unconditional"
    reference = "Goodfellow et al. 2014, Algorithm 1"
    settings = GANSettings
    step_metrics = PAIR_STEP_METRICS
    reads = ("model.arch", "model.z_dim", "model.width", "model.depth", "model.norm", "loss.regulariser",
             "loss.wgan_clip", "loss.gp_lambda", "loss.lsgan_targets", "train.optimiser", "train.lr_g", "train.lr_d",
             "train.betas", "train.k_d_steps")
    curves = PAIR_CURVES

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> GANSettings:
        objective = resolve_objective(variant, hyper)
        regulariser = objective["regulariser"]
        arch = hyper.network.arch
        if arch == "auto":
            arch = "mlp" if data.kind == "points" else "dcgan"
        norm = hyper.network.norm
        if norm == "auto":
            norm = "none" if arch == "mlp" else "layer" if REGULARISER_TYPES[regulariser].per_sample else "batch"
        if (reason := check_critic_norm(norm, regulariser)) is not None:
            raise FamilyError(reason)
        optimiser = resolve_optimiser(variant.optimiser, hyper.optimiser)
        network = NetworkSpec(arch=arch, data_shape=tuple(data.shape), z_dim=hyper.network.z_dim,
                              width=hyper.network.width, depth=hyper.network.depth, d_norm=norm)
        return GANSettings(network=network, optimiser=optimiser, **objective)

    def generator(self, settings: GANSettings, data: DataSpec) -> nn.Module:
        """G of these settings (a conditional family's takes labels)."""
        return build_generator(settings.network)

    def discriminator(self, settings: GANSettings, data: DataSpec) -> nn.Module:
        return build_discriminator(settings.network)

    def objective(self, settings: GANSettings) -> Objective:
        return settings.objective()

    def create(self, settings: GANSettings, data: DataSpec, context: RunContext) -> PairRun:
        def networks() -> tuple[nn.Module, nn.Module]:
            return self.generator(settings, data), self.discriminator(settings, data)

        labels = data.n_classes if self.task == "class-conditional" else 0
        return PairRun(networks, settings.optimiser, self.objective(settings), settings.network.z_dim, context, labels)

    def build_sampler(self, settings: GANSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return self.generator(settings, data)

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return sampler_weights(state)

    def sampler_kind(self, state: dict[str, Any]) -> str:
        return sampler_kind(state)

    def latent_dim(self, settings: GANSettings) -> int:
        return settings.network.z_dim


register_family(GANFamily())
#: Arjovsky et al. 2017, Alg. 1: RMSProp, α = 5e-5, n_critic = 5, c = 0.01.
WGAN_RMSPROP = OptimiserDefaults(name="rmsprop", lr_g=5.0e-5, lr_d=5.0e-5, k_d_steps=5)
#: Gulrajani et al. 2017, Alg. 1: Adam(α = 1e-4, β1 = 0, β2 = 0.9), n_critic = 5, λ = 10.
WGAN_GP_ADAM = OptimiserDefaults(name="adam", lr_g=1.0e-4, lr_d=1.0e-4, betas=(0.0, 0.9), k_d_steps=5)
#: The six loss recipes of the benchmark; a family that takes any loss offers each (``cgan-wgan-gp``,
#: :func:`register_with_every_loss`).
LOSS_VARIANTS = (
    Variant("minimax", "gan", MinimaxLoss, reference="Goodfellow et al. 2014, Eq. 1"),
    Variant("non-saturating", "gan", NonSaturatingLoss, reference="Goodfellow et al. 2014, Sec. 3"),
    Variant("wgan", "gan", WassersteinLoss, "weight-clipping", WGAN_RMSPROP, "Arjovsky et al. 2017, Alg. 1"),
    Variant("wgan-gp", "gan", WassersteinLoss, "gradient-penalty", WGAN_GP_ADAM, "Gulrajani et al. 2017, Alg. 1"),
    Variant("lsgan", "gan", LeastSquaresLoss, reference="Mao et al. 2017, Eq. 2"),
    Variant("hinge", "gan", HingeLoss, reference="Lim & Ye 2017; Miyato et al. 2018"),
)
for _variant in LOSS_VARIANTS:
    register_variant(_variant)


def register_with_every_loss(paper: Variant) -> None:
    """Register ``paper`` (a family's variant as its paper trains it, named after the family) and, for a family that
    takes any adversarial loss, ``<family>-<recipe>`` for each other recipe of :data:`LOSS_VARIANTS`: that recipe's
    loss, regulariser and optimiser on this family's networks (``cgan-wgan-gp``). The paper's own loss and
    regulariser are the paper's variant, with its optimiser (no ``projection-hinge`` beside ``projection``)."""
    register_variant(paper)
    for recipe in LOSS_VARIANTS:
        if (recipe.loss, recipe.regulariser) != (paper.loss, paper.regulariser):
            register_variant(dataclasses.replace(recipe, name=f"{paper.family}-{recipe.name}", family=paper.family))
