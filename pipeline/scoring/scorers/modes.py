"""Mode coverage of the 2-D mixtures (Srivastava et al. 2017, VEEGAN, Sec. 5.1; ``analysis.mode_metrics``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.mode_metrics import mode_scores
from pipeline.config import EvalConfig
from pipeline.data.store import PreparedData
from pipeline.scoring.registry import MetricSpec, Scorer, finite_samples, register_scorer


@register_scorer
class ModeScorer(Scorer):
    """``modes`` covered by the papers' rule (one high-quality sample), ``modes_strict`` by ganlab's (at least
    ``eval.mode_min_samples`` of 2,500), share of high-quality samples ``hq``, ``mode_kl`` to uniform;
    ``modes_hq = modes_strict + hq`` orders generators as :meth:`rank_key` does (strict modes first, then hq) as
    one number, for sweeps; the collapse rule watches ``modes_strict``."""

    name = "modes"
    order = 700
    tasks = ("unconditional", "class-conditional")
    metrics = (MetricSpec("modes_strict", "max"), MetricSpec("modes", "max"), MetricSpec("hq", "max"),
               MetricSpec("mode_kl", "min"),
               MetricSpec("modes_hq", "max", shown=False))
    in_training = ("unconditional", "class-conditional")
    tune_base = "modes_hq"
    coverage_base = "modes_strict"

    def __init__(self, n_samples: int, eval_config: EvalConfig, centres: np.ndarray, std: float) -> None:
        super().__init__(n_samples, eval_config)
        self.centres, self.std = centres, std

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return prepared.kind == "points"

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> ModeScorer:
        return cls(n_samples, eval_config, np.asarray(prepared.manifest["modes"]), prepared.manifest["std"])

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float]:
        s, cfg = self.suffix, self.eval_config
        scores = mode_scores(finite_samples(samples, self.n_samples), self.centres, self.std, cfg.mode_sigmas, self.min_samples)
        return {f"modes{s}": scores.modes_covered, f"modes_strict{s}": scores.modes_strict, f"hq{s}": scores.high_quality,
                f"mode_kl{s}": scores.kl_to_uniform, f"modes_hq{s}": scores.modes_strict + scores.high_quality}

    def rank_key(self, metrics: dict[str, float]) -> tuple[float, ...]:
        """Larger is better; strict modes break ties on high-quality share."""
        return metrics[f"modes_strict{self.suffix}"], metrics[f"hq{self.suffix}"]

    def protocol(self) -> dict[str, Any]:
        cfg = self.eval_config
        return {"n_generated": self.n_samples, "kind": self.name,
                "rule": f"VEEGAN: high quality within {cfg.mode_sigmas} std of the nearest mode; modes: covered "
                        f"with >= 1 high-quality sample (VEEGAN, PacGAN); modes_strict: with >= "
                        f"{self.min_samples} of {self.n_samples} samples",
                "n_modes": len(self.centres), "std": self.std}
