"""When a tuning trial is not worth continuing: the failure modes of GAN training.

* ``diverged`` -- a non-finite loss (checked at every step by the training loop itself).
* ``discriminator-wins`` -- D rejects every sample, mean ``D(G(z)) < d_fake_below``, while G's
  gradient norm has fallen below ``grad_g_below``: the saturation that the minimax loss suffers
  (Goodfellow et al. 2014, Sec. 3; Arjovsky & Bottou 2017, Thm. 2.4). Only for losses whose D
  output is a probability.
* ``mode-collapse`` -- the in-training coverage metric (modes of a 2-D mixture, classes of a
  labelled image set) falls to ``coverage_at_most`` from a higher value earlier in the run (Metz et
  al. 2017; Srivastava et al. 2017); a generator that has not spread out yet is not collapsed.

The two collapse rules apply from ``after_step`` on, so a young generator is not judged.
Otherwise a trial is ``completed`` (its full budget), ``early-stopped`` (by the
scheduler, e.g. ASHA) or ended in an ``error``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: How a trial ended when no rule stopped it.
COMPLETED, EARLY_STOPPED, ERROR = "completed", "early-stopped", "error"


@dataclass(frozen=True)
class StopRules:
    after_step: int
    d_fake_below: float
    grad_g_below: float
    coverage_at_most: int
    coverage_metric: str | None  # e.g. "modes1k", "classes1000"; None when the dataset has none
    probabilistic: bool  # whether D(G(z)) is a probability (minimax, non-saturating)

    def reason(self, row: dict[str, float], history: list[dict[str, float]]) -> str | None:
        """Why to stop after this logged row (which carries the in-training metric), or None;
        ``history`` holds the run's earlier rows."""
        if row["step"] < self.after_step:
            return None
        d_fake, grad_g = row.get("d_fake", math.inf), row.get("grad_norm_g", math.inf)  # absent: skipped by fp16
        if self.probabilistic and d_fake < self.d_fake_below and grad_g < self.grad_g_below:
            return "discriminator-wins"
        coverage = [r[self.coverage_metric] for r in history if self.coverage_metric in r]
        if self.coverage_metric in row and row[self.coverage_metric] <= self.coverage_at_most < max(coverage, default=0):
            return "mode-collapse"
        return None


def diverging(stats: dict[str, float]) -> dict[str, float]:
    """The non-finite losses and gradient norms of a step (statistics named ``loss*`` / ``grad_norm*``)."""
    return {key: value for key, value in stats.items()
            if key.startswith(("loss", "grad_norm")) and not math.isfinite(value)}
