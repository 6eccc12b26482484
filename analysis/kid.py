"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

``KID = MMD²_u(X, Y)`` with the cubic polynomial kernel
``k(x, y) = (xᵀy / d + 1)³`` and the unbiased estimator (Eq. 3 of the paper)

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (m(m−1)) − 2 Σ_{i,j} k(x_i, y_j) / m²,

averaged over ``subsets`` random subsets of ``m`` samples from each set
(drawn without replacement, as the reference implementation does:
``RandomState(seed)``, one draw for X then one for Y per subset); the spread
is the standard deviation (ddof=0) over subsets. Unbiased, so small N is fine
and values slightly below 0 are legitimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KernelDistance:
    mean: float
    std: float
    subsets: int
    subset_size: int


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> KernelDistance:
    """KID between two feature sets; ``subset_size`` is capped at the smaller set (and must be ≥ 2)."""
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"KID needs two (N, D) feature sets of equal D, got {real.shape} and {fake.shape}")
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {len(real)} and {len(fake)}")
    rng = np.random.RandomState(seed)
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), size, replace=False)]
        y = fake[rng.choice(len(fake), size, replace=False)]
        values.append(mmd2_unbiased(x, y))
    return KernelDistance(float(np.mean(values)), float(np.std(values)), subsets, size)
