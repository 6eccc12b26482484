"""Mixed precision of a run: an autocast dtype and, for fp16, a dynamic loss scaler per optimiser."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

PRECISIONS = ("fp32", "bf16", "fp16")
#: A dynamic loss scale at or below this means even unscaled gradients overflow fp16 (see Precision.collapsed).
MIN_LOSS_SCALE = 1.0


@dataclass
class Precision:
    """An autocast dtype (None: fp32) and, for fp16, a loss scaler per optimiser.

    bf16 keeps fp32's exponent range and needs no scaling; fp16 does
    (Micikevicius et al. 2018), with one ``GradScaler`` for D and one for G
    because their losses differ by orders of magnitude.
    """

    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    scaler_d: torch.amp.GradScaler | None = None
    scaler_g: torch.amp.GradScaler | None = None

    @classmethod
    def create(cls, name: str, device_type: str) -> Precision:
        if name == "fp32":
            return cls(device_type)
        if name == "bf16":
            return cls(device_type, torch.bfloat16)
        if name == "fp16":
            return cls(device_type, torch.float16, torch.amp.GradScaler(device_type), torch.amp.GradScaler(device_type))
        raise ValueError(f"unknown precision {name!r}; choose one of {PRECISIONS}")

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def d_scale(self, like: Tensor) -> Tensor | float:
        """D's current loss scale (1.0 without fp16) as a tensor on ``like``'s device: ``GradScaler.scale`` of a one,
        which reads the scale where it lives instead of ``get_scale()``'s host sync."""
        if self.scaler_d is None:
            return 1.0
        return self.scaler_d.scale(torch.ones((), device=like.device))

    def scalers(self) -> dict[str, torch.amp.GradScaler]:
        """The loss scalers by optimiser ("d", "g"); none without fp16."""
        pairs = {"d": self.scaler_d, "g": self.scaler_g}
        return {name: scaler for name, scaler in pairs.items() if scaler is not None}

    def collapsed(self) -> bool:
        """A loss scaler has backed off to a scale <= 1: the gradients overflow fp16 even unscaled, which no
        rescaling can fix (the run has diverged, not merely skipped a step)."""
        return any(scaler.get_scale() <= MIN_LOSS_SCALE for scaler in self.scalers().values())


FP32 = Precision()
