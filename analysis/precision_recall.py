"""Improved precision and recall (Kynkäänniemi et al. 2019), k = 3 by default.

Each set's manifold is the union of balls around its samples, radius = the
distance to the k-th nearest neighbour. Precision = share of generated
samples inside the real manifold; recall = share of real samples inside the
generated manifold (strict ``<``, as the reference ``prdc`` package).
"""

from __future__ import annotations

import numpy as np

from analysis.neighbours import distance_blocks, knn_radii


def inside_share(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Share of ``points`` within ``radii[j]`` of some ``centres[j]``."""
    inside = np.zeros(len(points), dtype=bool)
    for rows, distances in distance_blocks(points, centres):
        inside[rows] = (distances < radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3,
                     real_radii: np.ndarray | None = None) -> dict[str, float]:
    """``real_radii``: ``knn_radii(real, k)`` when already at hand (a fixed real set scored many times)."""
    radii = knn_radii(real, k) if real_radii is None else real_radii
    return {"precision": inside_share(fake, real, radii), "recall": inside_share(real, fake, knn_radii(fake, k))}
