"""Real-image Inception features, computed once per protocol and cached as the DVC out ``data/features/<dataset>/``.

The protocol of the cached features is everything they depend on: the
prepared training split (its sha256), the extractor (name, weights file
sha256, preprocessing, precision), the number of images and the seed that
picks them. Its hash names the file (``inception-<key>.npz``, through the one
feature-statistics cache :mod:`pipeline.common.feature_cache`) and the protocol
is stored inside it, so ``evaluate`` can only ever read features made under the
protocol it would use itself; anything else is a clear error ("run
`dvc repro features@<dataset>`"), never a stale number. The passes run where ``ray.scoring`` says
(:mod:`pipeline.features.passes`): the same numbers, so not part of the protocol.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.inception import InceptionFeatures, to_uint8
from pipeline.common.digest import sha256_file
from pipeline.common.feature_cache import FeatureCache, FeatureCacheError, protocol_key
from pipeline.common.files import write_json
from pipeline.common.layout import features_dir
from pipeline.config import Config, EvalConfig
from pipeline.data.store import PreparedData, load_prepared
from pipeline.features.passes import feature_passes

log = logging.getLogger("ganlab.features")
#: Seed of the permutation that picks the real images.
REAL_SUBSET_SEED = 0
STATUS_FILE = "protocol.json"


@dataclass(frozen=True)
class RealFeatures:
    features: np.ndarray
    protocol: dict[str, Any]


def uses_inception(prepared: PreparedData, eval_config: EvalConfig) -> bool:
    return eval_config.inception and prepared.kind == "images"


def build_extractor(eval_config: EvalConfig) -> InceptionFeatures:
    weights = Path(eval_config.inception_weights) if eval_config.inception_weights else None
    return InceptionFeatures(weights, eval_config.inception_precision)


def real_protocol(prepared: PreparedData, eval_config: EvalConfig, extractor: InceptionFeatures) -> dict[str, Any]:
    """What the cached real features depend on; ``key`` is its hash."""
    n_real = min(eval_config.inception_samples, len(prepared.train_x))
    protocol = {**extractor.protocol(), "weights_sha256": sha256_file(extractor.weights),
                "real_split": "train", "real_sha256": prepared.manifest["splits"]["train"]["sha256"],
                "n_real": n_real, "real_subset_seed": REAL_SUBSET_SEED}
    return {**protocol, "key": protocol_key(protocol)}


def inception_cache(dataset: str) -> FeatureCache:
    return FeatureCache(features_dir(dataset), "inception",
                        f"run `dvc repro features@{dataset}` (or `ganlab features --dataset {dataset}`)")


def compute_real_features(config: Config, dataset: str) -> Path:
    """The ``features`` stage: write (or keep, if its protocol is unchanged) the real-image features."""
    cfg = config.for_dataset(dataset)
    prepared = load_prepared(dataset)
    directory = features_dir(dataset)
    directory.mkdir(parents=True, exist_ok=True)
    cache = inception_cache(dataset)
    if not uses_inception(prepared, cfg.eval):
        cache.clear()
        reason = "eval.inception is false" if prepared.kind == "images" else "2-D points have no images"
        write_json(directory / STATUS_FILE, {"inception": False, "reason": reason})
        log.info("%s: no Inception features (%s)", dataset, reason)
        return directory / STATUS_FILE
    extractor = build_extractor(cfg.eval)
    protocol = real_protocol(prepared, cfg.eval, extractor)
    if cache.holds(protocol):
        cache.clear(keep=cache.path(protocol))
        log.info("%s: real Inception features for protocol %s are cached in %s", dataset, protocol["key"],
                 cache.path(protocol))
    else:
        order = np.random.RandomState(REAL_SUBSET_SEED).permutation(len(prepared.train_x))[: protocol["n_real"]]
        images = to_uint8(torch.as_tensor(prepared.train_x[order]))
        log.info("%s: Inception features of %d real images (protocol %s)", dataset, len(images), protocol["key"])
        with feature_passes(config.ray) as passes:
            features = passes.features(extractor, images, cfg.eval.inception_batch_size,
                                       f"{dataset} real Inception features")
        cache.save(protocol, {"features": features})
    write_json(directory / STATUS_FILE, {"inception": True, **protocol})
    return cache.path(protocol)


def load_real_features(dataset: str, expected: dict[str, Any]) -> RealFeatures:
    """The cached features of exactly the ``expected`` protocol (else a ``FeatureCacheError`` saying how to make them)."""
    cache = inception_cache(dataset)
    features = cache.load(expected)["features"]
    if len(features) != expected["n_real"]:
        raise FeatureCacheError(f"{cache.path(expected)} holds {len(features)} features, its protocol says "
                                f"{expected['n_real']}; {cache.rebuild}")
    return RealFeatures(features, expected)
