"""Exponential moving average of G's weights (Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging in GAN
Training"): ``θ_ema ← β θ_ema + (1 - β) θ`` after every G step; samples are drawn from ``θ_ema``."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class ExponentialMovingAverage:
    """EMA of a generator's parameters; buffers (BatchNorm statistics) are copied, not averaged."""

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
