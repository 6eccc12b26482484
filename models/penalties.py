"""Gradient penalties that keep D smooth around the data (``families.gan.penalty``), as
:class:`~models.regularisers.Regulariser` objects beside WGAN-GP's.

* ``dragan`` (Kodali et al. 2017, "On Convergence and Stability of GANs"): ``λ E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²]`` on
  ``x̂ = x + α (x_p − x)``, ``x_p = x + c · std(x) · u``, ``u ~ U[0, 1)`` per element, ``α ~ U[0, 1)`` per sample,
  ``std`` the whole real batch's (population) standard deviation: the authors' reference code (``DRAGAN.ipynb``,
  λ = 10, c = 0.5), real data only, every D update. λ is ``loss.gp_lambda``.
* ``r1`` / ``r2`` (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?", Eqs. 9-10):
  ``γ/2 · E‖∇_x D(x)‖²`` on real data (R1) or on generated data (R2), every D update (the authors' GAN_stability
  code; its ``reg_param`` multiplies E‖∇D‖² without the ½, so their 10 is γ = 20 here). With packing (PacGAN), D's
  input is a pack of m samples: the mean over the m·N rows is (1/m) E_pack‖∇_pack D‖², so the weight is m γ/2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from models.r1 import r1_penalty
from models.regularisers import Critic, Regulariser, gradient_penalty
from models.techniques import Techniques


def dragan_points(real: Tensor, c: float, rng: torch.Generator | None) -> Tensor:
    """DRAGAN's perturbed real batch ``x + c · std(x) · u``, ``u ~ U[0, 1)`` per element (drawn from ``rng``)."""
    noise = torch.rand(real.shape, device=real.device, dtype=real.dtype, generator=rng)
    return real + c * real.detach().std(correction=0) * noise


@dataclass(frozen=True)
class DRAGANPenalty(Regulariser):
    name: ClassVar[str] = "dragan"
    per_sample: ClassVar[bool] = True
    weight: float = 10.0
    c: float = 0.5

    def penalty(self, discriminator: Critic, real: Tensor, fake: Tensor, rng: torch.Generator | None,
                loss_scale: float | Tensor) -> Tensor:
        """``E[(‖∇D(x̂)‖ − 1)²]``; :func:`gradient_penalty` interpolates real and perturbed real with one uniform
        weight per sample, drawn after the perturbation."""
        return gradient_penalty(discriminator, real, dragan_points(real, self.c, rng), rng, loss_scale)


@dataclass(frozen=True)
class R1Penalty(Regulariser):
    name: ClassVar[str] = "r1"
    per_sample: ClassVar[bool] = True
    weight: float = 5.0

    def penalty(self, discriminator: Critic, real: Tensor, fake: Tensor, rng: torch.Generator | None,
                loss_scale: float | Tensor) -> Tensor:
        return r1_penalty(discriminator, real, loss_scale)


@dataclass(frozen=True)
class R2Penalty(R1Penalty):
    name: ClassVar[str] = "r2"

    def penalty(self, discriminator: Critic, real: Tensor, fake: Tensor, rng: torch.Generator | None,
                loss_scale: float | Tensor) -> Tensor:
        return r1_penalty(discriminator, fake, loss_scale)


def build_penalty(techniques: Techniques, gp_lambda: float) -> Regulariser:
    """The regulariser of ``families.gan.penalty`` with its weight (DRAGAN: λ; R1/R2: m γ/2 with packs of m)."""
    if techniques.penalty == DRAGANPenalty.name:
        return DRAGANPenalty(weight=gp_lambda, c=techniques.dragan_c)
    gradient = {R1Penalty.name: R1Penalty, R2Penalty.name: R2Penalty}[techniques.penalty]
    return gradient(weight=techniques.pack * techniques.r1_gamma / 2.0)
