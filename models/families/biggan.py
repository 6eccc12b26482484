"""The ``biggan`` family: BigGAN (Brock et al. 2019), small.

* G: the residual generator with conditional batch normalisation fed by one **shared class embedding** and the
  **hierarchical latent** (``z`` split into one chunk per block, each concatenated with the shared embedding; Sec. 4,
  Appendix B), spectral normalisation in G as in D (Sec. 4, after Zhang et al. 2019), orthogonal initialisation
  (Appendix B.1 / BigGAN-PyTorch's ``ortho`` init).
* D: the projection discriminator (Miyato & Koyama 2018) with spectral normalisation.
* Recipe (Sec. 3 and Appendix B.1/C): hinge loss; Adam(β1 = 0, β2 = 0.999) with G's learning rate 5e-5 and D's
  2e-4 (D's 4× G's), two D steps per G step; **orthogonal regularisation** of G, β = 1e-4 (Sec. 3.1,
  :mod:`models.orthogonal`; ``families.biggan.ortho_beta``, 0 switches it off); an **EMA of G** with decay 0.9999
  from step 20,000 (Appendix C, ``ema_start``), its BatchNorm statistics re-estimated from its own passes ("standing
  statistics", :mod:`models.ema`); ``train.ema_decay`` replaces it when set.
* Sampling: the **truncation trick** (Sec. 3.1): z drawn from a normal truncated to [−ψ, ψ], values outside
  resampled (``sampling.biggan.psi``; null: no truncation), :mod:`models.truncation`.

Widths and steps are the CPU's (README, "Conditional and modern families"); the shared embedding keeps the paper's
128 dimensions. The loss is the paper's (``biggan`` only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from models.family import (Curve, DataSpec, Hyperparameters, OptimiserDefaults, Variant, register_family,
                           register_variant)
from models.losses import HingeLoss
from models.options import option
from models.orthogonal import OrthogonalPenalty
from models.pair_run import EMASchedule
from models.resnet import ResNetSpec
from models.resnet_family import ResNetFamily, ResNetSettings
from models.step import Objective
from models.truncation import truncated_normal


@dataclass(frozen=True)
class BigGANOptions:
    """``families.biggan``: the paper's defaults."""

    ortho_beta: float = option(1.0e-4, low=0.0, doc="orthogonal regularisation β of G (Sec. 3.1); 0: off")
    shared_dim: int = option(128, low=1, doc="size of the shared class embedding (Appendix B)")
    ema_decay: float | None = option(0.9999, low=0.0, high=1.0, open_low=True, open_high=True,
                                     doc="EMA of G's weights (Appendix C); null: sample the raw G")
    ema_start: int = option(20000, low=0, doc="the EMA copies G before this step (Appendix C)")


@dataclass(frozen=True)
class BigGANSampling:
    """``sampling.biggan``: the truncation trick."""

    psi: float | None = option(None, low=0.0, open_low=True, doc="truncate z to [-psi, psi] (Sec. 3.1); null: none")


@dataclass(frozen=True)
class BigGANSettings(ResNetSettings):
    """A ``biggan`` run: the residual family's settings, the orthogonal regularisation's β and the family's EMA."""

    ortho_beta: float
    ema_decay: float | None
    ema_start: int


#: Brock et al. 2019, Appendix B.1: Adam(β1 = 0, β2 = 0.999), lr 5e-5 in G and 2e-4 in D, 2 D steps per G step.
BIGGAN_ADAM = OptimiserDefaults(name="adam", lr_g=5.0e-5, lr_d=2.0e-4, betas=(0.0, 0.999), k_d_steps=2)


class BigGANFamily(ResNetFamily):
    name = "biggan"
    task = "class-conditional"
    reference = "Brock et al. 2019"
    settings = BigGANSettings
    options = BigGANOptions
    sampling_options = BigGANSampling
    g_norm = "shared"
    projection = True
    g_spectral = True
    init = "orthogonal"
    step_metrics = {**ResNetFamily.step_metrics, "penalty_g": "penalty/ortho"}
    curves = (*ResNetFamily.curves, Curve(("penalty_g",), "G's orthogonal regularisation β‖WWᵀ ⊙ (1 − I)‖²", "R_β", log=True))

    def spec(self, hyper: Hyperparameters, data: DataSpec) -> ResNetSpec:
        options = hyper.options or BigGANOptions()
        return dataclasses.replace(super().spec(hyper, data), shared_dim=options.shared_dim)

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> BigGANSettings:
        options = hyper.options or BigGANOptions()
        common = super().resolve(variant, hyper, data, world_size)
        return BigGANSettings(**{field.name: getattr(common, field.name) for field in dataclasses.fields(common)},
                              ortho_beta=options.ortho_beta, ema_decay=options.ema_decay, ema_start=options.ema_start)

    def objective(self, settings: BigGANSettings) -> Objective:
        if not settings.ortho_beta:
            return settings.objective()
        return settings.objective(generator_penalty=OrthogonalPenalty(settings.ortho_beta, excluded=("shared.",)))

    def own_ema(self, settings: BigGANSettings) -> EMASchedule | None:
        return EMASchedule(settings.ema_decay, settings.ema_start) if settings.ema_decay else None

    def sample_noise(self, n: int, latent_dim: int, rng: torch.Generator, options: Any = None) -> Tensor:
        return truncated_normal(n, latent_dim, options.psi if options is not None else None, rng)


register_family(BigGANFamily())
register_variant(Variant("biggan", "biggan", HingeLoss, optimiser=BIGGAN_ADAM, reference="Brock et al. 2019"))
