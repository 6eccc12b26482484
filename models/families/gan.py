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

**Stabilisation techniques** (:mod:`models.techniques`, params ``families.gan``, all off by default): one-sided label
smoothing, instance noise, feature matching, minibatch discrimination, minibatch standard deviation, PacGAN packing,
DRAGAN, R1 and R2. Each has a variant on top of the non-saturating recipe (only the technique differs):

| variant | technique |
| --- | --- |
| ``ns-label-smoothing`` | real target 0.9 (Salimans et al. 2016, Sec. 3.4) |
| ``ns-instance-noise`` | σ0 = 0.02, annealed linearly to 0 over the run (Sønderby et al. 2017; σ0 from the sweep |
|  | ``benchmarks/instance_noise_sweep.yaml``) |
| ``ns-feature-matching`` | G matches D's last hidden layer (Salimans et al. 2016, Sec. 3.1) |
| ``ns-minibatch-discrimination`` | B = 5, C = 5 (Salimans et al. 2016, Sec. 3.2; their code's B = 100 costs 36-76× a |
|  | plain step on the 2-D data here, so the CPU's variant takes 5) |
| ``ns-minibatch-stddev`` | group 4 (Karras et al. 2018, Sec. 3) |
| ``ns-pacgan2``, ``ns-pacgan3``, ``ns-pacgan4`` | packs of m = 2, 3, 4 (Lin et al. 2018) |
| ``ns-dragan`` | λ = 10, c = 0.5 (Kodali et al. 2017, reference code) |
| ``ns-r1``, ``ns-r2`` | γ = 10 on real / generated data (Mescheder et al. 2018, Eq. 9) |

With every technique off, a run is the plain :class:`~models.pair_run.PairRun` with the plain D.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from torch import Tensor, nn

from models.family import (Curve, DataSpec, Family, FamilyError, Hyperparameters, OptimiserDefaults, RunContext,
                           Variant, register_family, register_variant)
from models.losses import HingeLoss, LeastSquaresLoss, MinimaxLoss, NonSaturatingLoss, WassersteinLoss
from models.networks import NetworkSpec, build_discriminator, build_generator
from models.pair_run import (PAIR_CURVES, PAIR_STEP_METRICS, ObjectiveSettings, OptimiserSettings, PairRun,
                             resolve_objective, resolve_optimiser, sampler_kind, sampler_weights)
from models.penalties import build_penalty
from models.plain import from_plain
from models.regularisers import REGULARISER_TYPES
from models.stabilised_discriminator import StabilisedDiscriminator
from models.stabilised_run import StabilisedRun
from models.step import Objective
from models.techniques import GANOptions, OneSidedSmoothing, Techniques, resolve_techniques, technique_conflict


@dataclass(frozen=True)
class GANSettings(ObjectiveSettings):
    """One resolved ``gan`` run: networks, optimisers, the loss and the regulariser with their coefficients, and the
    stabilisation techniques (all off but in a technique's variant or under ``families.gan``)."""

    network: NetworkSpec
    optimiser: OptimiserSettings
    techniques: Techniques = Techniques()

    def objective(self, **extra: Any) -> Objective:
        """The loss with one-sided label smoothing and the penalty of ``families.gan.penalty``, where on."""
        plain = super().objective(**extra)
        chosen = self.techniques
        loss = OneSidedSmoothing(plain.loss, chosen.real_label) if chosen.real_label < 1.0 else plain.loss
        regulariser = build_penalty(chosen, self.gp_lambda) if chosen.penalty != "none" else plain.regulariser
        return dataclasses.replace(plain, loss=loss, regulariser=regulariser)


@dataclass(frozen=True)
class TechniqueVariant(Variant):
    """A ``gan`` variant that switches stabilisation techniques on: ``techniques`` are (option, value) pairs of
    :class:`~models.techniques.GANOptions`."""

    techniques: tuple[tuple[str, Any], ...] = ()


def check_critic_norm(norm: str, regulariser: str, per_sample: bool) -> str | None:
    """Why a critic normalisation cannot go with a regulariser whose penalty is ``per_sample``, or None (Gulrajani
    et al. 2017, Sec. 4: the gradient penalty is per sample, so batch statistics in the critic make it wrong)."""
    if norm == "batch" and per_sample:
        return (f"model.norm: batch cannot be used with the {regulariser} regulariser: the penalty is computed per "
                "sample, which batch normalisation in the critic breaks (Gulrajani et al. 2017, Sec. 4); use "
                "model.norm: layer (or auto)")
    return None


class GANFamily(Family):
    name = "gan"
    task = "unconditional"
    reference = "Goodfellow et al. 2014, Algorithm 1"
    settings = GANSettings
    options = GANOptions
    step_metrics = {**PAIR_STEP_METRICS, "noise_sigma": "noise/sigma"}
    reads = ("model.arch", "model.z_dim", "model.width", "model.depth", "model.norm", "loss.regulariser",
             "loss.wgan_clip", "loss.gp_lambda", "loss.lsgan_targets", "train.optimiser", "train.lr_g", "train.lr_d",
             "train.betas", "train.k_d_steps")
    curves = (*PAIR_CURVES, Curve(("noise_sigma",), "Instance noise σ on D's inputs", "σ"))

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> GANSettings:
        objective = resolve_objective(variant, hyper)
        regulariser = objective["regulariser"]
        techniques = resolve_techniques(hyper.options if isinstance(hyper.options, GANOptions) else None,
                                        getattr(variant, "techniques", ()))
        per_sample = REGULARISER_TYPES[regulariser].per_sample
        if (reason := technique_conflict(variant.loss, regulariser, per_sample, techniques)) is not None:
            raise FamilyError(reason)
        per_sample = per_sample or techniques.penalty != "none"
        arch = hyper.network.arch
        if arch == "auto":
            arch = "mlp" if data.kind == "points" else "dcgan"
        norm = hyper.network.norm
        if norm == "auto":
            norm = "none" if arch == "mlp" else "layer" if per_sample else "batch"
        if (reason := check_critic_norm(norm, techniques.penalty if techniques.penalty != "none" else regulariser,
                                        per_sample)) is not None:
            raise FamilyError(reason)
        optimiser = resolve_optimiser(variant.optimiser, hyper.optimiser)
        network = NetworkSpec(arch=arch, data_shape=tuple(data.shape), z_dim=hyper.network.z_dim,
                              width=hyper.network.width, depth=hyper.network.depth, d_norm=norm)
        return GANSettings(network=network, optimiser=optimiser, techniques=techniques, **objective)

    def generator(self, settings: GANSettings, data: DataSpec) -> nn.Module:
        """G of these settings (a conditional family's takes labels)."""
        return build_generator(settings.network)

    def discriminator(self, settings: GANSettings, data: DataSpec) -> nn.Module:
        if settings.techniques.changes_discriminator:
            return StabilisedDiscriminator(settings.network, settings.techniques)
        return build_discriminator(settings.network)

    def objective(self, settings: GANSettings) -> Objective:
        return settings.objective()

    def create(self, settings: GANSettings, data: DataSpec, context: RunContext) -> PairRun:
        def networks() -> tuple[nn.Module, nn.Module]:
            return self.generator(settings, data), self.discriminator(settings, data)

        if settings.techniques.changes_step:
            return StabilisedRun(networks, settings.optimiser, self.objective(settings), settings.network.z_dim, context,
                                 settings.techniques)
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

    def settings_from_dict(self, plain: Mapping[str, Any]) -> GANSettings:
        """Settings of a checkpoint or generator file; those written before the techniques existed had none on."""
        return from_plain(self.settings, {"techniques": dataclasses.asdict(Techniques()), **plain})


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

#: The stabilisation techniques, each on top of the non-saturating recipe (see the module docstring).
TECHNIQUE_VARIANTS = (
    ("ns-label-smoothing", (("real_label", 0.9),), "Salimans et al. 2016, Sec. 3.4"),
    ("ns-instance-noise", (("noise_sigma", 0.02),), "Sønderby et al. 2017; Arjovsky & Bottou 2017"),
    ("ns-feature-matching", (("feature_matching", True),), "Salimans et al. 2016, Sec. 3.1"),
    ("ns-minibatch-discrimination", (("minibatch_kernels", 5),), "Salimans et al. 2016, Sec. 3.2"),
    ("ns-minibatch-stddev", (("mbstd_group", 4),), "Karras et al. 2018, Sec. 3"),
    ("ns-pacgan2", (("pack", 2),), "Lin et al. 2018"),
    ("ns-pacgan3", (("pack", 3),), "Lin et al. 2018"),
    ("ns-pacgan4", (("pack", 4),), "Lin et al. 2018"),
    ("ns-dragan", (("penalty", "dragan"),), "Kodali et al. 2017"),
    ("ns-r1", (("penalty", "r1"),), "Mescheder et al. 2018, Eq. 9"),
    ("ns-r2", (("penalty", "r2"),), "Mescheder et al. 2018, Eq. 10"),
)
for _name, _techniques, _reference in TECHNIQUE_VARIANTS:
    register_variant(TechniqueVariant(_name, "gan", NonSaturatingLoss, reference=_reference, techniques=_techniques))
