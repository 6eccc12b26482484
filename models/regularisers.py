"""Discriminator regularisers as objects (compare_gan's ``penalty_lib`` shape): a penalty term added to D's loss
and a hook after each D update, chosen independently of the adversarial loss.

* ``none``: nothing.
* ``gradient-penalty``: ``λ E_x̂[(‖∇_x̂ D(x̂)‖₂ - 1)²]`` (Gulrajani et al. 2017, Alg. 1), λ = 10.
* ``weight-clipping``: ``w ← clip(w, -c, c)`` after each D update (Arjovsky et al. 2017, Alg. 1), c = 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from torch import Tensor, nn

Critic = Callable[[Tensor], Tensor]


def gradient_penalty(discriminator: Critic, real: Tensor, fake: Tensor, rng: torch.Generator | None = None,
                     loss_scale: float | Tensor = 1.0) -> Tensor:
    """Two-sided penalty of Gulrajani et al. (2017), Alg. 1, *without* the λ factor.

    ``E_x̂[(‖∇_x̂ D(x̂)‖₂ - 1)²]`` on ``x̂ = ε x + (1 - ε) x̃`` with one
    ``ε ~ U[0, 1]`` per sample, drawn from ``rng`` (the global RNG when None).
    ``create_graph=True`` so the penalty's own gradient reaches D's weights.
    ``loss_scale`` is fp16 mixed precision's current scale: the gradient is
    taken of the scaled scores and divided back, so small gradients survive
    in half precision (the PyTorch AMP recipe for gradient penalties).
    """
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype, generator=rng)
    interpolates = (eps * real + (1.0 - eps) * fake.detach()).requires_grad_(True)
    scores = discriminator(interpolates)
    (grads,) = torch.autograd.grad(scores.float().sum() * loss_scale, interpolates, create_graph=True)
    norms = (grads.float() / loss_scale).flatten(start_dim=1).norm(2, dim=1)
    return (norms - 1.0).pow(2).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, clip: float) -> None:
    """Arjovsky et al. (2017), Alg. 1 line 7: ``w ← clip(w, -c, c)`` on every parameter."""
    for parameter in module.parameters():
        parameter.clamp_(-clip, clip)


@dataclass(frozen=True)
class Regulariser:
    """No regularisation; the base of the others. ``weight`` multiplies :meth:`penalty` in D's loss."""

    name: ClassVar[str] = "none"
    #: Whether the penalty is per sample, so batch statistics in the critic would break it (Gulrajani et al. 2017, Sec. 4).
    per_sample: ClassVar[bool] = False
    weight: float = 0.0

    def penalty(self, discriminator: Critic, real: Tensor, fake: Tensor, rng: torch.Generator | None,
                loss_scale: float | Tensor) -> Tensor | None:
        """The unweighted penalty term of one D update, or None when the regulariser adds none."""
        return None

    def after_update(self, discriminator: nn.Module) -> None:
        """Called after every D update."""


@dataclass(frozen=True)
class GradientPenalty(Regulariser):
    name: ClassVar[str] = "gradient-penalty"
    per_sample: ClassVar[bool] = True
    weight: float = 10.0

    def penalty(self, discriminator: Critic, real: Tensor, fake: Tensor, rng: torch.Generator | None,
                loss_scale: float | Tensor) -> Tensor:
        return gradient_penalty(discriminator, real, fake, rng, loss_scale)


@dataclass(frozen=True)
class WeightClipping(Regulariser):
    name: ClassVar[str] = "weight-clipping"
    clip: float = 0.01

    def after_update(self, discriminator: nn.Module) -> None:
        clip_weights(discriminator, self.clip)


REGULARISER_TYPES: dict[str, type[Regulariser]] = {cls.name: cls for cls in (Regulariser, WeightClipping, GradientPenalty)}
REGULARISERS = tuple(REGULARISER_TYPES)


def build_regulariser(name: str, gp_lambda: float = 10.0, wgan_clip: float = 0.01) -> Regulariser:
    """The regulariser called ``name`` with the papers' coefficients (or the given ones)."""
    if name == GradientPenalty.name:
        return GradientPenalty(weight=gp_lambda)
    if name == WeightClipping.name:
        return WeightClipping(clip=wgan_clip)
    if name == Regulariser.name:
        return Regulariser()
    raise ValueError(f"unknown regulariser {name!r}; choose one of {', '.join(REGULARISERS)}")
