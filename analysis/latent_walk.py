"""Latent walks: a generator's outputs along a path between two noise vectors (Radford et al. 2016, Sec. 6.1,
"walking in the latent space": smooth transitions mean the generator has learnt relevant representations, sharp
ones suggest memorisation).

The path is spherical (White 2016, "Sampling Generative Networks", Sec. 2.2):
``slerp(q0, q1; t) = sin((1 − t) θ) / sin θ · q0 + sin(t θ) / sin θ · q1`` with ``θ`` the angle between ``q0`` and
``q1``. For a high-dimensional Gaussian latent the straight line between two samples passes through points of
atypically small norm, which the generator never saw; the great-circle arc keeps the norm typical. Where the two
vectors are (anti)parallel, ``sin θ`` vanishes and the path is the straight line.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Below this ``sin θ`` the two vectors count as parallel and the path is linear.
PARALLEL = 1e-6


def slerp(start: Tensor, end: Tensor, fractions: Tensor) -> Tensor:
    """Spherical interpolation of each row pair: ``start``, ``end`` of shape (n, d), ``fractions`` (k,) in [0, 1] →
    (n, k, d), row ``i``, column ``j`` = ``slerp(start[i], end[i]; fractions[j])`` (see the module docstring)."""
    if start.shape != end.shape or start.dim() != 2:
        raise ValueError(f"slerp needs two (n, d) tensors of one shape, got {tuple(start.shape)} and {tuple(end.shape)}")
    t = fractions.to(start.dtype).view(1, -1, 1)
    cosine = torch.nn.functional.cosine_similarity(start, end, dim=1).clamp(-1.0, 1.0).view(-1, 1, 1)
    theta = torch.arccos(cosine)
    sine = torch.sin(theta)
    parallel = sine.abs() < PARALLEL
    safe = torch.where(parallel, torch.ones_like(sine), sine)
    weight_start = torch.where(parallel, 1.0 - t, torch.sin((1.0 - t) * theta) / safe)
    weight_end = torch.where(parallel, t, torch.sin(t * theta) / safe)
    return weight_start * start.unsqueeze(1) + weight_end * end.unsqueeze(1)
