"""Mode-coverage metrics for the 2-D mixtures (Srivastava et al. 2017, VEEGAN, Sec. 5.1).

Each generated point is assigned to its nearest mode centre; it is *high
quality* when it lies within ``sigmas`` standard deviations (default 3) of
that centre. Two coverage counts:

* ``modes_covered`` -- the papers' rule: a mode is covered when at least one
  high-quality point is nearest to it (VEEGAN's released evaluation code;
  PacGAN's ``MetricLogger``, Lin et al. 2018). Compare it with their tables.
* ``modes_strict`` -- ganlab's stricter rule: at least ``min_samples``
  high-quality points (20 of 2,500 by default), so that a mode visited by a
  stray sample or two is not counted; sweeps and the collapse rule use it.

The mode histogram of the high-quality points is compared with the uniform
target by ``KL(p̂ ‖ uniform)`` (0 when every mode gets its share).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModeScores:
    modes_covered: int  # at least one high-quality sample nearest the mode (VEEGAN, PacGAN)
    modes_strict: int  # at least ``min_samples`` high-quality samples
    n_modes: int
    high_quality: float  # share of samples within `sigmas` std of their nearest mode, in [0, 1]
    kl_to_uniform: float  # nats; inf when there are no high-quality samples

    def as_dict(self) -> dict[str, float]:
        return {"modes_covered": self.modes_covered, "modes_strict": self.modes_strict, "n_modes": self.n_modes,
                "high_quality": self.high_quality, "kl_to_uniform": self.kl_to_uniform}


def mode_scores(samples: np.ndarray, centres: np.ndarray, std: float, sigmas: float = 3.0,
                min_samples: int = 20) -> ModeScores:
    """Score ``samples`` (N, 2) against mixture ``centres`` (M, 2) of per-axis ``std``."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must have shape (N, {centres.shape[1]}), got {samples.shape}")
    if not np.isfinite(samples).all():
        raise ValueError("samples contain NaN or inf; the generator has diverged")
    distances = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(samples)), nearest] <= sigmas * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    total = counts.sum()
    if total == 0:
        kl = float("inf")
    else:
        p = counts / total
        nonzero = p > 0
        kl = float(np.sum(p[nonzero] * np.log(p[nonzero] * len(centres))))
    return ModeScores(
        modes_covered=int((counts >= 1).sum()),
        modes_strict=int((counts >= min_samples).sum()),
        n_modes=len(centres),
        high_quality=float(good.mean()),
        kl_to_uniform=kl,
    )
