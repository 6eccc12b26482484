"""PSNR and SSIM on the luminance of colour images, as super-resolution papers report them (SRGAN, Ledig et al.
2017, Sec. 3.2: "calculated on the y-channel of center-cropped, removal of a 4-pixel wide strip from each border,
images"; BasicSR's ``calculate_psnr`` / ``calculate_ssim`` with ``test_y_channel=True`` and ``crop_border=scale``).

* Luminance -- Y of ITU-R BT.601 YCbCr on the 8-bit studio scale, as MATLAB's ``rgb2ycbcr`` (and
  ``skimage.color.rgb2ycbcr``) computes it from RGB in [0, 1]: ``Y = 16 + 65.481 R + 128.553 G + 24.966 B``, in
  [16, 235]; our [-1, 1] images give ``R = (r + 1) / 2`` and so on. Values are not rounded to 8 bits.
* Border -- ``crop`` pixels removed from every side before either measure (:func:`crop_border`).
* PSNR -- ``10 log10(255² / MSE)`` of each image's Y (:func:`analysis.pixel_error.psnr_per_image` with data range
  255), the mean over images with each value capped as :func:`analysis.pixel_error.mean_psnr` caps it.
* SSIM -- :mod:`analysis.ssim` (Wang et al. 2004: Gaussian window 11, σ 1.5, K1 0.01, K2 0.03, symmetric
  padding, the map's mean over every pixel) of Y with the dynamic range ``L = 255`` (MATLAB's ``ssim`` of the Y
  channel and BasicSR's ``C1 = (0.01·255)²``), computed as :mod:`analysis.ssim` computes SSIM of ``Y / 255`` with
  ``L = 1``: the same number.
"""

from __future__ import annotations

import numpy as np

from analysis.pixel_error import mean_psnr
from analysis.ssim import ssim_per_image

#: BT.601 luma weights of R, G, B in [0, 1] on the 8-bit studio scale, and its black level (MATLAB ``rgb2ycbcr``).
BT601_Y = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
#: The 8-bit peak value both measures take as the data range.
PEAK = 255.0


def luminance(images: np.ndarray) -> np.ndarray:
    """[-1, 1] RGB images (N, 3, H, W) → their Y (N, 1, H, W) in [16, 235], float64 (see the module docstring)."""
    rgb = (np.asarray(images, dtype=np.float64) + 1.0) / 2.0
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"luminance needs RGB batches (N, 3, H, W), got {rgb.shape}")
    return Y_OFFSET + np.einsum("c,nchw->nhw", np.asarray(BT601_Y), rgb)[:, None]


def crop_border(images: np.ndarray, crop: int) -> np.ndarray:
    """``images`` (N, C, H, W) without ``crop`` pixels on each side; refused when nothing would be left."""
    height, width = images.shape[-2:]
    if crop < 0 or 2 * crop >= min(height, width):
        raise ValueError(f"cannot crop {crop} pixels from each side of {height}×{width} images")
    return images[..., crop : height - crop, crop : width - crop]


def psnr_y(outputs: np.ndarray, targets: np.ndarray, crop: int) -> float:
    """The mean over images of the PSNR of Y, ``crop`` border pixels removed."""
    return mean_psnr(crop_border(luminance(outputs), crop), crop_border(luminance(targets), crop), data_range=PEAK)


def ssim_y(outputs: np.ndarray, targets: np.ndarray, crop: int) -> float:
    """The mean over images of the SSIM of Y (``L = 255``), ``crop`` border pixels removed."""
    scaled = [crop_border(luminance(images), crop) / PEAK * 2.0 - 1.0 for images in (outputs, targets)]
    return float(ssim_per_image(*scaled).mean())
