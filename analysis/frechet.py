"""Fréchet distance between Gaussians fitted to features (Heusel et al. 2017, Eq. 6).

``d² = ‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2 (Σ₁ Σ₂)^½)``, the quantity behind FID
(Inception features) and classifier-space FID (a domain classifier's features).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg


@dataclass(frozen=True)
class FeatureStats:
    """Mean and covariance (unbiased, ``ddof=1``) of N feature vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureStats:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2:
            raise ValueError(f"features must be 2-D (N, D), got shape {features.shape}")
        n, dim = features.shape
        if n <= dim:
            raise ValueError(
                f"{n} samples cannot give a full-rank covariance of {dim}-d features; use more than {dim} samples"
            )
        if not np.isfinite(features).all():
            raise ValueError("features contain NaN or inf")
        return cls(mu=features.mean(axis=0), sigma=np.cov(features, rowvar=False), n=n)


def frechet_distance(a: FeatureStats, b: FeatureStats, eps: float = 1e-6) -> float:
    """``‖μa - μb‖² + Tr(Σa) + Tr(Σb) - 2 Tr((Σa Σb)^½)``.

    As in the reference implementation (pytorch-fid, from TTUR), a singular
    product gets ``eps·I`` added to both covariances, and an imaginary part of
    the square root that is numerical noise is dropped; a large one is an error.
    """
    diff = a.mu - b.mu
    covmean = linalg.sqrtm(a.sigma @ b.sigma)
    if not np.isfinite(covmean).all():
        offset = np.eye(a.sigma.shape[0]) * eps
        covmean = linalg.sqrtm((a.sigma + offset) @ (b.sigma + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"matrix square root has an imaginary component {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * np.trace(covmean))
