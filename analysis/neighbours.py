"""Euclidean distances and k-nearest-neighbour radii of feature sets, in blocks (N×M never all in memory at once).

Shared by precision/recall (Kynkäänniemi et al. 2019) and density/coverage
(Naeem et al. 2020): the radius of a sample is the distance to its k-th
nearest neighbour within its own set, itself excluded.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

BLOCK = 2048


def distance_blocks(x: np.ndarray, y: np.ndarray, block: int = BLOCK) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows of x, their distances to every y) in float64, ``block`` rows at a time."""
    xt, yt = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    for start in range(0, len(xt), block):
        rows = slice(start, min(start + block, len(xt)))
        yield rows, torch.cdist(xt[rows], yt, compute_mode="donot_use_mm_for_euclid_dist").numpy()


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    if len(x) <= k:
        raise ValueError(f"k={k} nearest neighbours need more than {k} samples, got {len(x)}")
    radii = np.empty(len(x))
    for rows, distances in distance_blocks(x, x):
        radii[rows] = np.partition(distances, k, axis=1)[:, k]  # position 0 is the sample itself
    return radii
