"""Bicubic upsampling, the baseline row of super-resolution tables (SRGAN, Ledig et al. 2017, Table 2).

Keys' cubic convolution (Keys 1981) with ``a = -0.5``, the kernel of PIL's and MATLAB's ``imresize`` bicubic and
of the prepared data's bicubic downsampling: pixel centres at half-pixel offsets, each output a weighted sum of
the 4 × 4 nearest inputs, taps that fall outside the image dropped and the remaining weights renormalised (PIL's
border rule), as ``torch.nn.functional.interpolate(mode="bicubic", align_corners=False, antialias=True)`` computes
it when enlarging. The result is clipped to the image range [-1, 1] (cubic weights overshoot near edges).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


def bicubic_upsample(images: np.ndarray, scale: int) -> np.ndarray:
    """[-1, 1] images (N, C, h, w) → (N, C, scale·h, scale·w), clipped to [-1, 1]."""
    if scale < 1 or int(scale) != scale:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    tensor = torch.as_tensor(np.asarray(images, dtype=np.float32))
    upsampled = F.interpolate(tensor, scale_factor=int(scale), mode="bicubic", align_corners=False, antialias=True)
    return upsampled.clamp(-1.0, 1.0).numpy()
