"""Pixel operations every image dataset shares, on float32 (N, C, H, W) arrays in [-1, 1] (the range of G's tanh).

- :func:`to_model_images`: raw pixels → [-1, 1] at ``data.image_size`` (bilinear, antialiased when shrinking).
- :func:`sobel_edges`: the Sobel gradient magnitude, the edge maps of paired translation data.
- :func:`bicubic_downsample`: the low-resolution inputs of super-resolution data.
- :func:`dilate`: grey dilation, the restyle of an unpaired domain ("bold" strokes).
- :func:`fill_square`: a square block set to one value per channel, the masked inputs of inpainting data.
- :func:`held_out`: a stratified test mask with a fixed seed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

#: Sobel's horizontal derivative kernel (cross-correlation); its transpose is the vertical one.
SOBEL = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def to_model_images(pixels: np.ndarray, max_value: float, size: int) -> np.ndarray:
    """uint8/float images (N, C, H, W) in [0, max_value] → float32 (N, C, size, size) in [-1, 1].

    Resizing is bilinear with antialiasing when shrinking.
    """
    images = torch.as_tensor(np.ascontiguousarray(pixels), dtype=torch.float32) / max_value
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=images.shape[-1] > size).clamp_(0.0, 1.0)
    return (images * 2.0 - 1.0).numpy()


def sobel_edges(images: np.ndarray) -> np.ndarray:
    """Edge maps: ``G = sqrt(G_x² + G_y²)`` with ``G_x``, ``G_y`` the 3×3 Sobel derivatives of each channel (border
    pixels repeated, as ``scipy.ndimage.sobel``'s ``reflect`` mode does for a 3×3 kernel), divided by each image's
    largest ``G`` and mapped to [-1, 1] (-1: no edge; an image without edges is -1 everywhere).

    The edge maps stand in for the HED edges of pix2pix's edges2shoes (Isola et al. 2017, "Image-to-Image
    Translation with Conditional Adversarial Networks", Sec. 4).
    """
    batch = torch.as_tensor(images, dtype=torch.float32)
    n, channels, height, width = batch.shape
    flat = F.pad(batch.reshape(n * channels, 1, height, width), (1, 1, 1, 1), mode="replicate")
    kernels = torch.stack([SOBEL, SOBEL.T])[:, None]
    gradients = F.conv2d(flat, kernels)
    magnitude = gradients.pow(2).sum(dim=1).sqrt().reshape(n, channels, height, width)
    peak = magnitude.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return (magnitude / peak * 2.0 - 1.0).numpy()


def bicubic_downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Images shrunk by ``factor`` with the antialiased bicubic kernel (Keys 1981, a = -0.5, its support widened by
    the factor, as PIL's and MATLAB's ``imresize`` do), clipped to [-1, 1]: the low-resolution inputs of SRGAN
    (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a GAN", Sec. 3.1: bicubic ×4)."""
    batch = torch.as_tensor(images, dtype=torch.float32)
    size = (batch.shape[-2] // factor, batch.shape[-1] // factor)
    small = F.interpolate(batch, size=size, mode="bicubic", align_corners=False, antialias=True)
    return small.clamp_(-1.0, 1.0).numpy()


def dilate(images: np.ndarray, width: int) -> np.ndarray:
    """Grey dilation with a ``width`` × ``width`` square: each pixel becomes the largest value of the window that
    starts ``(width - 1) // 2`` pixels above and left of it (``scipy.ndimage.grey_dilation``'s window), the border
    padded with -1 (background); bright strokes on a dark ground become ``width - 1`` pixels bolder."""
    batch = torch.as_tensor(images, dtype=torch.float32)
    before, after = (width - 1) // 2, width // 2
    padded = F.pad(batch, (before, after, before, after), value=-1.0)
    return F.max_pool2d(padded, kernel_size=width, stride=1).numpy()


def fill_square(images: np.ndarray, top: int, left: int, side: int, fill: np.ndarray) -> np.ndarray:
    """A copy of ``images`` (N, C, H, W) whose rows ``top … top + side - 1`` and columns ``left … left + side - 1``
    hold ``fill[c]`` in every channel ``c`` (the region a context encoder must fill in, Pathak et al. 2016)."""
    masked = np.array(images, dtype=np.float32, copy=True)
    masked[:, :, top : top + side, left : left + side] = np.asarray(fill, dtype=np.float32)[:, None, None]
    return masked


def held_out(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean test mask: ``round(fraction × n)`` members (at least one) of every label, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test[members[: max(1, round(fraction * len(members)))]] = True
    return test
