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
from typing import Any, Callable

import torch
from torch import Tensor, nn

from models.ema import ExponentialMovingAverage
from models.family import (Batch, Curve, DataSpec, Family, FamilyError, FamilyRun, Hyperparameters, OptimiserDefaults,
                           Progress, RunContext, Variant, register_family, register_variant)
from models.losses import HingeLoss, LeastSquaresLoss, MinimaxLoss, NonSaturatingLoss, WassersteinLoss, build_loss
from models.networks import NetworkSpec, build_discriminator, build_generator
from models.precision import Precision
from models.regularisers import REGULARISER_TYPES, build_regulariser
from models.step import Objective, build_optimiser, train_step, unwrap


@dataclass(frozen=True)
class OptimiserSettings:
    name: str
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    k_d_steps: int


@dataclass(frozen=True)
class GANSettings:
    """One resolved ``gan`` run: networks, optimisers, the loss and the regulariser with their coefficients."""

    network: NetworkSpec
    optimiser: OptimiserSettings
    loss: str  # a name of models.losses.LOSSES
    regulariser: str  # a name of models.regularisers.REGULARISERS
    gp_lambda: float
    wgan_clip: float
    lsgan_targets: tuple[float, float, float]

    def objective(self) -> Objective:
        return Objective(loss=build_loss(self.loss, self.lsgan_targets),
                         regulariser=build_regulariser(self.regulariser, self.gp_lambda, self.wgan_clip))


def check_critic_norm(norm: str, regulariser: str) -> str | None:
    """Why a critic normalisation cannot go with a regulariser, or None (Gulrajani et al. 2017, Sec. 4: the
    gradient penalty is per sample, so batch statistics in the critic make it wrong)."""
    if norm == "batch" and REGULARISER_TYPES[regulariser].per_sample:
        return (f"model.norm: batch cannot be used with the {regulariser} regulariser: the penalty is computed per "
                "sample, which batch normalisation in the critic breaks (Gulrajani et al. 2017, Sec. 4); use "
                "model.norm: layer (or auto)")
    return None


class GANRun(FamilyRun):
    """G, D, their optimisers, loss scalers and G's EMA on one worker."""

    def __init__(self, settings: GANSettings, context: RunContext) -> None:
        self.settings, self.device = settings, context.device
        with torch.random.fork_rng(devices=[]):  # identical initial weights on every worker; global RNG untouched
            torch.manual_seed(context.seed)
            generator, discriminator = build_generator(settings.network), build_discriminator(settings.network)
        self.generator = context.wrap(generator.to(self.device))
        self.discriminator = context.wrap(discriminator.to(self.device))
        opt = settings.optimiser
        self.opt_g = build_optimiser(opt.name, self.generator.parameters(), opt.lr_g, opt.betas)
        self.opt_d = build_optimiser(opt.name, self.discriminator.parameters(), opt.lr_d, opt.betas)
        self.ema = (ExponentialMovingAverage(unwrap(self.generator), context.ema_decay, context.ema_start,
                                             context.ema_rampup) if context.ema_decay else None)
        self.precision = Precision.create(context.precision, self.device.type)
        self.objective = settings.objective()

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        z_dim = self.settings.network.z_dim
        stats = train_step(self.generator, self.discriminator, self.opt_g, self.opt_d, self.objective,
                           lambda: next_batch()["x"], lambda n: torch.randn(n, z_dim, device=self.device, generator=rng),
                           self.settings.optimiser.k_d_steps, self.ema, rng, self.precision, progress=progress)
        return stats.as_dict()

    def _standing_inputs(self, rng: torch.Generator) -> tuple[Tensor]:
        """One batch of noise for the EMA generator's standing statistics (DCGAN's batch of 64)."""
        return (torch.randn(64, self.settings.network.z_dim, device=self.device, generator=rng),)

    def sampler(self, name: str | None = None) -> nn.Module:
        return self.ema.sampler(self._standing_inputs) if self.ema is not None else unwrap(self.generator)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": unwrap(self.generator), "discriminator": unwrap(self.discriminator)}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": unwrap(self.generator).state_dict(), "discriminator": unwrap(self.discriminator).state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "ema": self.sampler().state_dict() if self.ema is not None else None,
                "scalers": {name: scaler.state_dict() for name, scaler in self.precision.scalers().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.generator).load_state_dict(state["generator"])
        unwrap(self.discriminator).load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        for name, scaler in self.precision.scalers().items():
            scaler.load_state_dict(state["scalers"][name])

    def use_settings(self, settings: GANSettings) -> None:
        self.settings = dataclasses.replace(self.settings, optimiser=settings.optimiser)
        self.scale_learning_rates(1.0)
        for optimiser in (self.opt_g, self.opt_d):
            for group in optimiser.param_groups:
                if "betas" in group:
                    group["betas"] = settings.optimiser.betas

    def scale_learning_rates(self, factor: float) -> None:
        opt = self.settings.optimiser
        for optimiser, lr in ((self.opt_g, opt.lr_g), (self.opt_d, opt.lr_d)):
            for group in optimiser.param_groups:
                group["lr"] = lr * factor

    def overflowed(self) -> bool:
        return self.precision.collapsed()


class GANFamily(Family):
    name = "gan"
    task = "unconditional"
    reference = "Goodfellow et al. 2014, Algorithm 1"
    settings = GANSettings
    step_metrics = {
        "loss_d": "loss/d", "loss_g": "loss/g", "d_real": "d/real", "d_fake": "d/fake", "grad_norm_d": "grad_norm/d",
        "grad_norm_g": "grad_norm/g", "penalty": "penalty/gp", "wasserstein": "wasserstein/estimate",
        "skipped_d": "amp/skipped_d", "skipped_g": "amp/skipped_g",
    }
    reads = ("model.arch", "model.z_dim", "model.width", "model.depth", "model.norm", "loss.regulariser",
             "loss.wgan_clip", "loss.gp_lambda", "loss.lsgan_targets", "train.optimiser", "train.lr_g", "train.lr_d",
             "train.betas", "train.k_d_steps")
    curves = (
        Curve(("loss_d",), "Discriminator loss", "L_D"),
        Curve(("loss_g",), "Generator loss", "L_G"),
        Curve(("d_real",), "D(x) on real data", "mean D(x)"),
        Curve(("d_fake",), "D(G(z)) on generated data", "mean D(G(z))"),
        Curve(("grad_norm_d",), "Discriminator gradient norm", "‖∇D‖", log=True),
        Curve(("grad_norm_g",), "Generator gradient norm (vanishing gradients show here)", "‖∇G‖", log=True),
        Curve(("wasserstein",), "Critic's Wasserstein estimate (WGAN variants)", "E[D(x)] − E[D(G(z))]"),
    )

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> GANSettings:
        regulariser = variant.regulariser if hyper.loss.regulariser == "auto" else hyper.loss.regulariser
        arch = hyper.network.arch
        if arch == "auto":
            arch = "mlp" if data.kind == "points" else "dcgan"
        norm = hyper.network.norm
        if norm == "auto":
            norm = "none" if arch == "mlp" else "layer" if REGULARISER_TYPES[regulariser].per_sample else "batch"
        if (reason := check_critic_norm(norm, regulariser)) is not None:
            raise FamilyError(reason)
        defaults, chosen = variant.optimiser, hyper.optimiser
        optimiser = OptimiserSettings(
            name=chosen.name or defaults.name,
            lr_g=(chosen.lr_g or defaults.lr_g) * chosen.lr_factor,
            lr_d=(chosen.lr_d or defaults.lr_d) * chosen.lr_factor,
            betas=chosen.betas or defaults.betas,
            k_d_steps=chosen.k_d_steps or defaults.k_d_steps,
        )
        network = NetworkSpec(arch=arch, data_shape=tuple(data.shape), z_dim=hyper.network.z_dim,
                              width=hyper.network.width, depth=hyper.network.depth, d_norm=norm)
        loss = hyper.loss
        return GANSettings(network=network, optimiser=optimiser, loss=variant.loss.name, regulariser=regulariser,
                           gp_lambda=loss.gp_lambda, wgan_clip=loss.wgan_clip, lsgan_targets=loss.lsgan_targets)

    def create(self, settings: GANSettings, data: DataSpec, context: RunContext) -> GANRun:
        return GANRun(settings, context)

    def build_sampler(self, settings: GANSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return build_generator(settings.network)

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return state["ema"] if state["ema"] is not None else state["generator"]

    def sampler_kind(self, state: dict[str, Any]) -> str:
        return "EMA" if state["ema"] is not None else "raw"

    def latent_dim(self, settings: GANSettings) -> int:
        return settings.network.z_dim


register_family(GANFamily())
#: Arjovsky et al. 2017, Alg. 1: RMSProp, α = 5e-5, n_critic = 5, c = 0.01.
WGAN_RMSPROP = OptimiserDefaults(name="rmsprop", lr_g=5.0e-5, lr_d=5.0e-5, k_d_steps=5)
#: Gulrajani et al. 2017, Alg. 1: Adam(α = 1e-4, β1 = 0, β2 = 0.9), n_critic = 5, λ = 10.
WGAN_GP_ADAM = OptimiserDefaults(name="adam", lr_g=1.0e-4, lr_d=1.0e-4, betas=(0.0, 0.9), k_d_steps=5)
for _variant in (
    Variant("minimax", "gan", MinimaxLoss, reference="Goodfellow et al. 2014, Eq. 1"),
    Variant("non-saturating", "gan", NonSaturatingLoss, reference="Goodfellow et al. 2014, Sec. 3"),
    Variant("wgan", "gan", WassersteinLoss, "weight-clipping", WGAN_RMSPROP, "Arjovsky et al. 2017, Alg. 1"),
    Variant("wgan-gp", "gan", WassersteinLoss, "gradient-penalty", WGAN_GP_ADAM, "Gulrajani et al. 2017, Alg. 1"),
    Variant("lsgan", "gan", LeastSquaresLoss, reference="Mao et al. 2017, Eq. 2"),
    Variant("hinge", "gan", HingeLoss, reference="Lim & Ye 2017; Miyato et al. 2018"),
):
    register_variant(_variant)
