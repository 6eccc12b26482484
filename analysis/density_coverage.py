"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics"), k = 3 by default.

With ``r_i`` the k-NN radius of real sample ``i``:
density = ``(1 / kM) Σ_j Σ_i 1[‖y_j − x_i‖ < r_i]`` over M generated samples ``y_j``;
coverage = share of real samples whose nearest generated sample lies within ``r_i``.
"""

from __future__ import annotations

import numpy as np

from analysis.neighbours import distance_blocks, knn_radii


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 3,
                     real_radii: np.ndarray | None = None) -> dict[str, float]:
    """``real_radii``: ``knn_radii(real, k)`` when already at hand (a fixed real set scored many times)."""
    radii = knn_radii(real, k) if real_radii is None else real_radii
    balls_per_fake = np.zeros(len(fake))
    covered = np.zeros(len(real), dtype=bool)
    for rows, distances in distance_blocks(real, fake):
        within = distances < radii[rows, None]
        balls_per_fake += within.sum(axis=0)
        covered[rows] = within.any(axis=1)
    return {"density": float(balls_per_fake.sum() / (k * len(fake))), "coverage": float(covered.mean())}
