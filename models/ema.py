"""Exponential moving average of G's weights (Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging in GAN
Training"): ``θ_ema ← β θ_ema + (1 - β) θ`` after every G step; samples are drawn from ``θ_ema``.

Averaging from the random initial weights drags early samples towards noise, so the average can start late or
ramp up:

* **start** (BigGAN, Brock et al. 2019, ``ema_start``): before step ``start`` the average copies G (β = 0);
* **ramp-up** (StyleGAN2-ADA, Karras et al. 2020, ``ema_rampup``): the half-life of the average, ``h₀ = ln ½ /
  ln β`` steps, is capped at ``rampup × t`` for the ``t``-th step since the start, and ``β_t = ½^(1/h)``. In
  StyleGAN2-ADA the cap is ``rampup × cur_nimg`` images and ``β = ½^(batch / h)``; with a constant batch the two
  are the same, so steps suffice. β_t = β once ``rampup × t ≥ h₀``.

BatchNorm statistics are not averaged: the averaged weights never produced the raw G's running statistics. They
are re-estimated from the average's own forward passes ("standing statistics", Brock et al. 2019, Sec. 3.1 and
Appendix C; BigGAN-PyTorch's ``accumulate_standing_stats``): every BatchNorm layer is reset and run in training
mode over ``batches`` batches with a cumulative average (``momentum=None``), from a fixed seed so that the
result depends on the weights alone. Other buffers (e.g. spectral norm's ``u``) are copied from G.
"""

from __future__ import annotations

import copy
import math
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

#: Batches of the standing statistics (BigGAN-PyTorch's ``num_standing_accumulations`` default) and their seed.
STANDING_BATCHES = 16
STANDING_SEED = 0
#: Draws one batch of the generator's inputs (noise and conditions) from the given RNG: its positional arguments.
InputDraw = Callable[[torch.Generator], tuple]


def ema_decay_at(decay: float, steps_since_start: int, rampup: float | None) -> float:
    """β of the update after ``steps_since_start`` averaged steps (see the module docstring); 0 before the start."""
    if steps_since_start < 0:
        return 0.0
    if rampup is None:
        return decay
    half_life = min(math.log(0.5) / math.log(decay), rampup * steps_since_start)
    return 0.5 ** (1.0 / half_life) if half_life > 0 else 0.0


class ExponentialMovingAverage:
    """EMA of a generator's parameters with a start step, an optional ramp-up and standing BatchNorm statistics."""

    def __init__(self, generator: nn.Module, decay: float, start: int = 0, rampup: float | None = None) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        if start < 0 or (rampup is not None and rampup <= 0):
            raise ValueError(f"EMA start must be >= 0 and rampup > 0, got start {start}, rampup {rampup}")
        self.decay, self.start, self.rampup = decay, start, rampup
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)
        self.stale = self.has_batchnorm()

    def has_batchnorm(self) -> bool:
        return any(isinstance(layer, _BatchNorm) for layer in self.module.modules())

    @torch.no_grad()
    def update(self, generator: nn.Module, step: int) -> None:
        """Average after the G update of step ``step`` (0-based)."""
        beta = ema_decay_at(self.decay, step - self.start, self.rampup)
        for ema_p, p in zip(self.module.parameters(), generator.parameters()):
            ema_p.lerp_(p.detach(), 1.0 - beta)
        for (name, ema_b), b in zip(self.module.named_buffers(), generator.buffers()):
            if not _is_batchnorm_statistic(self.module, name):
                ema_b.copy_(b)
        self.stale = self.has_batchnorm()

    @torch.no_grad()
    def standing_statistics(self, draw: InputDraw, batches: int = STANDING_BATCHES) -> nn.Module:
        """Re-estimate every BatchNorm layer's statistics from ``batches`` forward passes of the average (inputs
        from ``draw`` with a generator seeded :data:`STANDING_SEED`); returns the module, in eval mode."""
        layers = [layer for layer in self.module.modules() if isinstance(layer, _BatchNorm)]
        momenta = [layer.momentum for layer in layers]
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # a cumulative average over the batches
        rng = torch.Generator(device=next(self.module.parameters()).device).manual_seed(STANDING_SEED)
        self.module.train()
        try:
            for _ in range(batches):
                self.module(*draw(rng))
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
            self.module.eval()
        self.stale = False
        return self.module

    def sampler(self, draw: InputDraw) -> nn.Module:
        """The average to sample from, its standing statistics re-estimated when updates made them stale."""
        return self.standing_statistics(draw) if self.stale else self.module

    def state_dict(self) -> dict[str, Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.module.load_state_dict(state)
        self.stale = False


def _is_batchnorm_statistic(module: nn.Module, buffer_name: str) -> bool:
    owner_name, _, _ = buffer_name.rpartition(".")
    return isinstance(module.get_submodule(owner_name), _BatchNorm)
