"""The in-training metric: every ``train.eval_every`` steps rank 0 scores fixed-noise samples with the dataset's
in-training scorer and keeps the best sampler seen (GAN quality can peak before the end of a run).

Best-checkpoint selection uses this metric, measured on ``train.eval_samples`` samples of the training-set
scorer; the evaluate stage scores the best and the final sampler again with the full protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from models.family import Family
from pipeline.data.store import PreparedData
from pipeline.scoring.conditions import conditions_for
from pipeline.scoring.registry import Scorer
from pipeline.scoring.sampling import Sampler

#: Noise seed of the in-training monitor (fixed, so successive scores are comparable).
MONITOR_SEED = 1234


@dataclass
class Best:
    """The best measurement so far: its step, rank key and metrics, and the weights of every sampler then."""

    step: int
    key: tuple[float, ...]
    metrics: dict[str, float]
    samplers: dict[str, dict[str, Tensor]] = field(repr=False)

    def as_state(self) -> dict[str, Any]:
        return {"step": self.step, "key": list(self.key), "metrics": self.metrics, "samplers": self.samplers}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> Best | None:
        return None if state is None else cls(state["step"], tuple(state["key"]), state["metrics"], state["samplers"])


class Monitor:
    """Scores a family's sampler on rank 0 and remembers the best (a larger :meth:`Scorer.rank_key` wins;
    ties keep the earlier step)."""

    def __init__(self, scorer: Scorer, family: Family, latent_dim: int, prepared: PreparedData, batch_size: int,
                 device: torch.device) -> None:
        self.scorer, self.family, self.latent_dim = scorer, family, latent_dim
        self.batch_size, self.device = batch_size, device
        self.conditions = conditions_for(family.task, prepared, scorer.n_samples)
        self.best: Best | None = None

    def measure(self, samplers: dict[str, nn.Module], step: int) -> dict[str, float]:
        """Score the main sampler (the first of ``samplers``, name → network); a new best keeps every sampler."""
        main = next(iter(samplers.values()))
        samples = Sampler(self.family, main, self.latent_dim).draw(
            self.scorer.n_samples, MONITOR_SEED, self.batch_size, self.device, self.conditions)
        scored = self.scorer.score(samples, self.conditions, f"step {step}")
        key = self.scorer.rank_key(scored)
        metrics = {name: value for name, value in scored.items() if value is not None}  # None: not measurable here
        if self.best is None or key > self.best.key:
            weights = {name: {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
                       for name, module in samplers.items()}
            self.best = Best(step, key, metrics, weights)
        return metrics

