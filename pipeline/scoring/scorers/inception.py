"""Inception metrics of generated images: FID, KID, precision/recall, density/coverage (and IS with logits weights).

Run by ``evaluate`` when ``eval.inception`` is on for an image dataset (never during training: ~20 images/s
on a CPU). The generated images go through the same extractor and preprocessing as the cached real
features (:mod:`pipeline.features.inception`); names carry the generated-sample count (``fid5k``,
``kid5k``, …) and the protocol records both counts. The generated images' passes run where the stage's
:class:`~pipeline.features.passes.FeaturePasses` say (this process, or Ray tasks on a cluster's GPUs).
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.density_coverage import density_coverage
from analysis.features import stream_features
from analysis.frechet import FeatureStats, frechet_distance
from analysis.inception import InceptionFeatures, InceptionLogits, to_uint8
from analysis.inception_score import inception_score
from analysis.kid import kernel_inception_distance
from analysis.neighbours import knn_radii
from analysis.precision_recall import precision_recall
from pipeline.config import EvalConfig
from pipeline.data.store import PreparedData
from pipeline.features.inception import RealFeatures, build_extractor, load_real_features, real_protocol, uses_inception
from pipeline.features.passes import FeaturePasses
from pipeline.scoring.registry import MetricSpec, Scorer, register_scorer
from pipeline.scoring.scorers.classifier import IS_SEED

log = logging.getLogger("ganlab.evaluate")
#: Seed of KID's subsets (recorded in the protocol).
KID_SEED = 0


@register_scorer
class InceptionScorer(Scorer):
    name = "inception"
    order = 600
    tasks = ("unconditional", "class-conditional", "paired-translation", "unpaired-translation", "super-resolution")
    metrics = (MetricSpec("fid", "min"), MetricSpec("kid", "min"), MetricSpec("kid_std", shown=False),
               MetricSpec("precision", "max"), MetricSpec("recall", "max"), MetricSpec("density", "max"),
               MetricSpec("coverage", "max"), MetricSpec("is", "max"), MetricSpec("is_std", shown=False))

    def __init__(self, eval_config: EvalConfig, extractor: InceptionFeatures, real: RealFeatures,
                 logits: InceptionLogits | None) -> None:
        super().__init__(eval_config.inception_samples, eval_config)
        self.extractor, self.real, self.logits = extractor, real, logits
        self.passes = FeaturePasses.in_process()

    @cached_property
    def real_stats(self) -> FeatureStats:
        """Mean and covariance of the real features (fixed: computed once, not per scored generator)."""
        return FeatureStats.of(self.real.features)

    @cached_property
    def real_radii(self) -> np.ndarray:
        """k-NN radii of the real features, shared by precision/recall and density/coverage."""
        return knn_radii(self.real.features, self.eval_config.nearest_k)

    @classmethod
    def applies(cls, prepared: PreparedData, eval_config: EvalConfig) -> bool:
        return uses_inception(prepared, eval_config)

    @classmethod
    def sample_count(cls, eval_config: EvalConfig) -> int:
        return eval_config.inception_samples

    @classmethod
    def build(cls, prepared: PreparedData, reference_dir: Path, eval_config: EvalConfig, n_samples: int) -> Scorer:
        extractor = build_extractor(eval_config)
        real = load_real_features(prepared.dataset, real_protocol(prepared, eval_config, extractor))
        logits = (InceptionLogits(Path(eval_config.inception_logits_weights))
                  if eval_config.inception_logits_weights else None)
        return cls(eval_config, extractor, real, logits)

    def use_passes(self, passes: FeaturePasses) -> None:
        self.passes = passes

    def metric_names(self) -> list[str]:
        shown = [spec.base for spec in self.metrics if self.logits is not None or spec.base not in ("is", "is_std")]
        return [base + self.suffix for base in shown]

    def score(self, samples: np.ndarray, conditions: dict[str, np.ndarray], label: str) -> dict[str, float | None]:
        cfg, s = self.eval_config, self.suffix
        images = to_uint8(torch.as_tensor(samples[: self.n_samples]))
        fake = self.passes.features(self.extractor, images, cfg.inception_batch_size, f"{label} Inception features")
        real = self.real.features
        dim = real.shape[1]
        fid = None
        if min(len(real), len(fake)) > dim:
            fid = frechet_distance(self.real_stats, FeatureStats.of(fake))
        else:
            log.warning("%s: FID not computed: %d real and %d generated images cannot give full-rank covariances "
                        "of %d-d features (KID, precision/recall and density/coverage are still valid); use "
                        "more than %d of each (eval.inception_samples, and a larger dataset)", label, len(real),
                        len(fake), dim, dim)
        kid = kernel_inception_distance(real, fake, cfg.kid_subsets, cfg.kid_subset_size, KID_SEED)
        metrics: dict[str, float | None] = {f"fid{s}": fid, f"kid{s}": kid.mean, f"kid_std{s}": kid.std,
                                            **{k + s: v for k, v in precision_recall(
                                                real, fake, cfg.nearest_k, self.real_radii).items()},
                                            **{k + s: v for k, v in density_coverage(
                                                real, fake, cfg.nearest_k, self.real_radii).items()}}
        if self.logits is not None:
            logits = stream_features(self.logits, images, self.n_samples, cfg.inception_batch_size,
                                     f"{label} Inception logits").features
            score = inception_score(logits, cfg.is_splits, IS_SEED)
            metrics.update({f"is{s}": score.mean, f"is_std{s}": score.std})
        return metrics

    def protocol(self) -> dict[str, Any]:
        cfg, dim = self.eval_config, self.real.features.shape[1]
        protocol = {**self.real.protocol, "n_generated": self.n_samples,
                    "kid": f"unbiased MMD², cubic polynomial kernel, {cfg.kid_subsets} subsets of "
                           f"min({cfg.kid_subset_size}, N), seed {KID_SEED}",
                    "nearest_k": cfg.nearest_k,
                    "fid": "computed" if min(self.real.protocol["n_real"], self.n_samples) > dim else
                           f"not computed (N <= {dim} features)"}
        if self.logits is not None:
            protocol["is"] = {**self.logits.protocol(), "splits": cfg.is_splits, "shuffle_seed": IS_SEED}
        return protocol
