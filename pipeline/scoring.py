"""Score a generator with the metric its dataset supports -- one implementation for
the in-training monitor (which picks the best checkpoint) and the evaluate stage.

* 2-D mixtures: VEEGAN's mode metrics (``analysis.mode_metrics``).
* labelled images: domain-classifier FID, class coverage and class KL.
* unlabelled images: nothing here; Inception metrics (``eval.inception``) are
  scored by :mod:`pipeline.inception_scoring`.

Metric names carry the sample count (``fid_clf2500``, ``modes1k``), so values
computed on different N never share a column by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis.class_metrics import class_scores
from analysis.features import stream_features
from analysis.frechet import FeatureStats, frechet_distance
from analysis.inception_score import inception_score
from analysis.mode_metrics import mode_scores
from pipeline.config import EvalConfig
from pipeline.prepared import PreparedData
from pipeline.reference import ClassifierReference, load_classifier_reference


#: Metric base name → whether lower ("min") or higher ("max") is better.
DIRECTIONS = {"modes": "max", "hq": "max", "mode_kl": "min", "modes_hq": "max", "fid_clf": "min", "classes": "max", "class_kl": "min",
              "is_clf": "max", "fid": "min", "kid": "min", "precision": "max", "recall": "max", "density": "max",
              "coverage": "max", "is": "max"}
#: Seed of the shuffle before the Inception Score's splits (torch-fidelity's default).
IS_SEED = 2020


def metric_base(metric: str) -> str:
    """``fid_clf2500`` → ``fid_clf``; a protocol tag (``fid5k [1a2b3c4d]``) is ignored."""
    return metric.split(" [")[0].rstrip("0123456789k")


def direction(metric: str) -> str:
    """"min" or "max" for a metric name with its sample-count suffix (``fid_clf2500`` → "min")."""
    return DIRECTIONS.get(metric_base(metric), "")


def in_tables(metric: str) -> bool:
    """Whether a result table shows the metric: not the spread of another (``*_std``), not ``modes_hq``
    (a ranking number derived from two shown columns)."""
    base = metric_base(metric)
    return not base.endswith("_std") and base != "modes_hq"


def metric_order(metric: str) -> int:
    """Position of a metric in tables: the order of :data:`DIRECTIONS`, unknown names last."""
    bases = list(DIRECTIONS)
    return bases.index(metric_base(metric)) if metric_base(metric) in bases else len(bases)


def count_label(n: int) -> str:
    """2500 → "2500", 10000 → "10k", 1000 → "1k" (the StyleGAN2-ADA / mimicry naming)."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


@torch.no_grad()
def generate(generator: nn.Module, n: int, z_dim: int, seed: int, batch_size: int = 500,
             device: torch.device | str = "cpu") -> np.ndarray:
    """``n`` samples from fixed noise (its own seeded RNG), G in eval mode; returns float32 numpy."""
    rng = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.eval()
    try:
        chunks = [generator(torch.randn(min(batch_size, n - i), z_dim, generator=rng).to(device)).float().cpu()
                  for i in range(0, n, batch_size)]
    finally:
        generator.train(was_training)
    return torch.cat(chunks).numpy()


@dataclass
class Scorer:
    """Scores samples of one dataset; ``primary`` names the metric that ranks checkpoints."""

    kind: str  # "modes", "classifier" or "none"
    n_samples: int
    eval_config: EvalConfig
    centres: np.ndarray | None = None
    std: float = 0.0
    reference: ClassifierReference | None = None

    @property
    def suffix(self) -> str:
        return count_label(self.n_samples)

    @property
    def primary(self) -> tuple[str, str] | None:
        """(metric name, "min" | "max") used to choose the best checkpoint."""
        if self.kind == "modes":
            return f"modes{self.suffix}", "max"
        if self.kind == "classifier":
            return f"fid_clf{self.suffix}", "min"
        return None

    @property
    def tune_metric(self) -> str | None:
        """The one number a sweep ranks trials by: ``modes_hq`` (covered modes + high-quality share, which
        orders generators as :meth:`rank_key` does) for 2-D mixtures, ``fid_clf`` for labelled images."""
        return {"modes": f"modes_hq{self.suffix}", "classifier": f"fid_clf{self.suffix}"}.get(self.kind)

    @property
    def coverage_metric(self) -> str | None:
        """The metric that counts covered modes (2-D) or classes (labelled images)."""
        return {"modes": f"modes{self.suffix}", "classifier": f"classes{self.suffix}"}.get(self.kind)

    def metric_names(self) -> list[str]:
        """What :meth:`score` returns, in order (for tables, and for diverged generators' nulls)."""
        bases = {"modes": ("modes", "hq", "mode_kl", "modes_hq"),
                 "classifier": ("fid_clf", "classes", "class_kl", "is_clf", "is_clf_std")}.get(self.kind, ())
        return [base + self.suffix for base in bases]

    def rank_key(self, metrics: dict[str, float]) -> tuple[float, ...]:
        """Larger is better; modes break ties on high-quality share."""
        if self.kind == "modes":
            return metrics[f"modes{self.suffix}"], metrics[f"hq{self.suffix}"]
        if self.kind == "classifier":
            return (-metrics[f"fid_clf{self.suffix}"],)
        return ()

    def score(self, samples: np.ndarray) -> dict[str, float]:
        if not np.isfinite(samples).all():
            raise FloatingPointError("generated samples contain NaN or inf: the generator has diverged")
        s = self.suffix
        if self.kind == "modes":
            scores = mode_scores(samples, self.centres, self.std, self.eval_config.mode_sigmas,
                                 self.eval_config.mode_min_samples)
            return {f"modes{s}": scores.modes_covered, f"hq{s}": scores.high_quality,
                    f"mode_kl{s}": scores.kl_to_uniform, f"modes_hq{s}": scores.modes_covered + scores.high_quality}
        if self.kind == "classifier":
            model = self.reference.model
            features = stream_features(model.features, samples, len(samples), self.eval_config.batch_size).features
            with torch.inference_mode():
                logits = model.head(torch.relu(torch.as_tensor(features))).numpy()
            classes = class_scores(logits.argmax(axis=1), self.reference.real_labels, logits.shape[1],
                                   self.eval_config.mode_min_samples)
            score = inception_score(logits, self.eval_config.is_splits, IS_SEED)
            return {f"fid_clf{s}": frechet_distance(FeatureStats.of(features), self.reference.real),
                    f"classes{s}": classes["classes_covered"], f"class_kl{s}": classes["class_kl"],
                    f"is_clf{s}": score.mean, f"is_clf_std{s}": score.std}
        return {}

    def protocol(self) -> dict[str, Any]:
        """What a reader needs to reproduce the numbers."""
        base: dict[str, Any] = {"n_generated": self.n_samples, "kind": self.kind}
        if self.kind == "modes":
            base.update(rule=f"VEEGAN: high quality within {self.eval_config.mode_sigmas} std of the nearest mode; "
                             f"mode covered with >= {self.eval_config.mode_min_samples} samples",
                        n_modes=len(self.centres), std=self.std)
        if self.kind == "classifier":
            base.update(extractor="domain-classifier", extractor_sha256=self.reference.sha256,
                        classifier_test_accuracy=self.reference.test_accuracy, n_real=self.reference.real.n,
                        coverage_rule=f"class covered with >= {self.eval_config.mode_min_samples} predictions",
                        inception_score=f"is_clf: Inception Score computed with the domain classifier's logits "
                                        f"(not Inception's), {self.eval_config.is_splits} splits, shuffle seed {IS_SEED}")
        return base


def build_scorer(prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer:
    """The scorer for a prepared dataset; ``reference_dir`` holds its real-data statistics."""
    manifest = prepared.manifest
    if prepared.kind == "points":
        return Scorer("modes", n_samples, eval_config, centres=np.asarray(manifest["modes"]), std=manifest["std"])
    if "classifier" in manifest:
        reference = load_classifier_reference(Path(prepared.directory), reference_dir, prepared.dataset, manifest)
        return Scorer("classifier", n_samples, eval_config, reference=reference)
    return Scorer("none", n_samples, eval_config)
