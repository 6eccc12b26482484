"""The R1 penalty (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?", Eq. 9) on
StyleGAN2's lazy schedule (Karras et al. 2020, Sec. 3.1 and Appendix B).

``R1 = γ/2 · E_{x ~ p_data}[‖∇_x D(x)‖²]``: D's gradient is penalised on real data only.

**Lazy regularisation**: the penalty is not added to every D update but is its own D update every N minibatches
(steps 0, N, 2N, …; N = 16 in StyleGAN2), weighted by N so that it keeps its strength: ``γ N / 2 ·
E‖∇D‖²``. D then takes N + 1 optimiser steps per N minibatches, which Appendix B corrects for in Adam:
learning rate ``c λ`` and betas ``β^c`` with ``c = N / (N + 1)`` (NVlabs' ``mb_ratio``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from models.precision import Precision
from models.progress import Progress
from models.step import _backward_and_step


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, loss_scale: float | Tensor = 1.0) -> Tensor:
    """``E_x[‖∇_x D(x)‖²]`` over the batch ``real``, *without* the γ/2 factor; ``create_graph=True`` so the penalty's
    own gradient reaches D's weights. ``loss_scale``: fp16's current loss scale (the scores are scaled before the
    gradient is taken and the gradient divided back, as in :func:`models.regularisers.gradient_penalty`)."""
    points = real.detach().requires_grad_(True)
    scores = critic(points)
    (grads,) = torch.autograd.grad(scores.float().sum() * loss_scale, points, create_graph=True)
    return (grads.float() / loss_scale).square().flatten(start_dim=1).sum(dim=1).mean()


@dataclass(frozen=True)
class LazyR1:
    """R1 with weight ``gamma`` as its own D update every ``interval`` steps (see the module docstring)."""

    gamma: float
    interval: int

    def __post_init__(self) -> None:
        if self.gamma <= 0 or self.interval < 1:
            raise ValueError(f"R1 needs gamma > 0 and an interval >= 1, got {self.gamma} and {self.interval}")

    def due(self, progress: Progress) -> bool:
        """Whether this step takes the R1 update: steps 0, N, 2N, …"""
        return progress.every(self.interval)

    @property
    def weight(self) -> float:
        """The factor of ``E‖∇D‖²`` in the lazy update: ``γ N / 2``."""
        return self.gamma * self.interval / 2.0

    @property
    def ratio(self) -> float:
        """``c = N / (N + 1)``: D's optimiser steps per minibatch, inverted (Appendix B)."""
        return self.interval / (self.interval + 1)

    def learning_rate(self, lr: float) -> float:
        """Adam's learning rate for D under the lazy schedule: ``c λ``."""
        return lr * self.ratio

    def betas(self, betas: tuple[float, float]) -> tuple[float, float]:
        """Adam's betas for D under the lazy schedule: ``β^c``."""
        return betas[0] ** self.ratio, betas[1] ** self.ratio

    def step(self, discriminator: nn.Module, optimiser: torch.optim.Optimizer, real: Tensor,
             precision: Precision) -> tuple[Tensor, Tensor]:
        """One R1 update of D on ``real``; returns (the unweighted ``E‖∇D‖²``, 1.0 if fp16 skipped the update, a tensor)."""
        scale = precision.d_scale(real)
        with precision.autocast():
            penalty = r1_penalty(lambda x: discriminator(x).float(), real, scale)
        _, skipped = _backward_and_step(penalty * self.weight, optimiser, discriminator.parameters(),
                                        precision.scaler_d)
        return penalty.detach(), skipped
