"""Cycle error of unpaired translation: how well ``B→A(A→B(a))`` returns ``a`` (CycleGAN, Zhu et al. 2017, Eq. 2).

``E_a ‖F(G(a)) - a‖₁``: the mean absolute difference, in [-1, 1] pixel units, between each image and its
round trip through both generators, averaged over pixels, channels and images (the cycle-consistency loss,
measured on held-out images).
"""

from __future__ import annotations

import numpy as np

from analysis.pixel_error import l1_per_image


def cycle_error(images: np.ndarray, round_trip: np.ndarray) -> float:
    """Mean L1 between ``images`` and their ``round_trip`` ``F(G(images))`` (row i of each belongs together)."""
    return float(l1_per_image(round_trip, images).mean())
