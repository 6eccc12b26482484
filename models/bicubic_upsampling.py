"""Bicubic upsampling as a network: the sampler of the ``bicubic`` baseline, SRGAN's "Bicubic" row (Ledig et al.
2017, Table 2).

Keys' cubic convolution (Keys 1981, "Cubic convolution interpolation for digital image processing") with ``a = -0.5``
-- the kernel of PIL's and MATLAB's ``imresize`` bicubic and of the prepared data's bicubic downsampling: pixel
centres at half-pixel offsets, each output a weighted sum of the 4 × 4 nearest inputs, taps outside the image dropped
and the remaining weights renormalised (PIL's border rule), as ``torch.nn.functional.interpolate(mode="bicubic",
align_corners=False, antialias=True)`` computes it when enlarging by an integer ``scale_factor``; the result clipped to
the image range [-1, 1] (the cubic weights overshoot near edges). The same call as the scorers' bicubic row
(``analysis/bicubic.py``, which ``models`` may not import); a test checks that both give the same bits.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


def bicubic_upsample(images: Tensor, scale: int) -> Tensor:
    """[-1, 1] images (N, C, h, w) → (N, C, scale·h, scale·w) by Keys' a = -0.5 kernel, clipped to [-1, 1]."""
    upsampled = F.interpolate(images, scale_factor=scale, mode="bicubic", align_corners=False, antialias=True)
    return upsampled.clamp(-1.0, 1.0)


class BicubicUpsampler(nn.Module):
    """:func:`bicubic_upsample` by a fixed integer ``scale`` (no parameters)."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        if scale < 1 or int(scale) != scale:
            raise ValueError(f"the bicubic scale must be a positive integer, got {scale}")
        self.scale = int(scale)

    def forward(self, images: Tensor) -> Tensor:
        return bicubic_upsample(images, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
