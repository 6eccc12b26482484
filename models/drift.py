"""The Wasserstein critic loss with the drift term of Karras et al. (2018), "Progressive Growing of GANs", Appendix
A.1: ``L_D = E[f] − E[r] + ε_drift·E[r²]``, ``r = D(x)`` on real data, ε_drift = 1e-3, which keeps the critic's
output from drifting far from zero; G's loss is WGAN's ``−E[f]``. (Used with the gradient penalty, λ = 10.)

A loss rather than a regulariser: the term is a function of the critic's outputs on the real batch, which the
loss already receives, so it needs no second pass of D over the reals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from models.losses import WassersteinLoss

#: Appendix A.1's ε_drift.
DRIFT = 1.0e-3


@dataclass(frozen=True)
class WassersteinDriftLoss(WassersteinLoss):
    """:class:`~models.losses.WassersteinLoss` plus ``drift · E[r²]`` in the critic's loss."""

    name: ClassVar[str] = "wasserstein-drift"
    drift: float = DRIFT

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return super().d_loss(real, fake) + self.drift * real.pow(2).mean()
