"""The truncation trick (Brock et al. 2019, BigGAN, Sec. 3.1): sample z from a normal truncated to [-ψ, ψ]
("values which fall outside a range are resampled to fall inside it"), trading variety for fidelity; ψ = None
(or no truncation asked for) is the plain normal the generator was trained on.

Resampling until every value lies inside gives the truncated normal; it is drawn here in one pass by inverting
its distribution function, ``z = Φ⁻¹(Φ(-ψ) + u (Φ(ψ) - Φ(-ψ)))`` with ``u ~ U[0, 1)`` — the same distribution,
with a number of random draws that does not depend on the values.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def truncated_normal(n: int, dim: int, psi: float | None, rng: torch.Generator) -> Tensor:
    """``n × dim`` standard-normal values truncated to ``[-ψ, ψ]`` (``ψ`` None: not truncated)."""
    if psi is None:
        return torch.randn(n, dim, generator=rng)
    if psi <= 0:
        raise ValueError(f"the truncation ψ must be > 0, got {psi}")
    low = 0.5 * (1.0 + math.erf(-psi / math.sqrt(2.0)))  # Φ(-ψ)
    u = torch.rand(n, dim, generator=rng, dtype=torch.float64)
    return torch.special.ndtri(low + u * (1.0 - 2.0 * low)).clamp_(-psi, psi).float()
