"""Discriminator regularisers: gradient penalty, weight clipping, and G's EMA.

A variant picks one regulariser by name (compare_gan's ``penalty_lib`` shape):
``"gradient-penalty"`` adds a term to D's loss, ``"weight-clipping"`` acts on
D's weights after each D update, ``"none"`` does nothing.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import Tensor, nn

REGULARISERS = ("none", "weight-clipping", "gradient-penalty")


def gradient_penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     rng: torch.Generator | None = None, loss_scale: float = 1.0) -> Tensor:
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


class ExponentialMovingAverage:
    """EMA of G's weights (Yazıcı et al. 2019): ``θ_ema ← β θ_ema + (1 - β) θ`` each G step.

    Buffers (BatchNorm statistics) are copied, not averaged.
    """

    def __init__(self, generator: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        for ema_p, p in zip(self.module.parameters(), generator.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - self.decay)
        for ema_b, b in zip(self.module.buffers(), generator.buffers()):
            ema_b.copy_(b)

    def state_dict(self) -> dict[str, Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.module.load_state_dict(state)
