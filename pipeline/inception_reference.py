"""Real-image Inception features, computed once per protocol and cached as the DVC out ``data/features/<dataset>/``.

The protocol of the cached features is everything they depend on: the
prepared training split (its sha256), the extractor (name, weights file
sha256, preprocessing, precision), the number of images and the seed that
picks them. Its hash names the file (``inception-<key>.npz``) and the
protocol is stored inside it, so ``evaluate`` can only ever read features
made under the protocol it would use itself; anything else is a clear error
("run `dvc repro features@<dataset>`"), never a stale number.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.features import stream_features
from analysis.inception import InceptionFeatures, to_uint8
from pipeline.config import Config, EvalConfig, fingerprint
from pipeline.files import atomic_path, sha256_file, write_json
from pipeline.layout import features_dir
from pipeline.prepared import PreparedData, load_prepared
from pipeline.reference import ReferenceError

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
    return {**protocol, "key": fingerprint(protocol)[:16]}


def _path(dataset: str, key: str) -> Path:
    return features_dir(dataset) / f"inception-{key}.npz"


def compute_real_features(config: Config, dataset: str) -> Path:
    """The ``features`` stage: write (or keep, if its protocol is unchanged) the real-image features."""
    cfg = config.for_dataset(dataset)
    prepared = load_prepared(dataset)
    directory = features_dir(dataset)
    directory.mkdir(parents=True, exist_ok=True)
    if not uses_inception(prepared, cfg.eval):
        for stale in directory.glob("inception-*.npz"):
            stale.unlink()
        reason = "eval.inception is false" if prepared.kind == "images" else "2-D points have no images"
        write_json(directory / STATUS_FILE, {"inception": False, "reason": reason})
        log.info("%s: no Inception features (%s)", dataset, reason)
        return directory / STATUS_FILE
    extractor = build_extractor(cfg.eval)
    protocol = real_protocol(prepared, cfg.eval, extractor)
    target = _path(dataset, protocol["key"])
    for stale in directory.glob("inception-*.npz"):
        if stale != target:
            stale.unlink()
    if target.is_file():
        log.info("%s: real Inception features for protocol %s are cached in %s", dataset, protocol["key"], target)
    else:
        order = np.random.RandomState(REAL_SUBSET_SEED).permutation(len(prepared.train_x))[: protocol["n_real"]]
        images = to_uint8(torch.as_tensor(prepared.train_x[order]))
        log.info("%s: Inception features of %d real images (protocol %s)", dataset, len(images), protocol["key"])
        features = stream_features(extractor, images, len(images), cfg.eval.inception_batch_size,
                                   f"{dataset} real Inception features").features
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, features=features, protocol=json.dumps(protocol, sort_keys=True))
    write_json(directory / STATUS_FILE, {"inception": True, **protocol})
    return target


def load_real_features(dataset: str, expected: dict[str, Any]) -> RealFeatures:
    """The cached features of exactly the ``expected`` protocol, or a :class:`ReferenceError` saying how to make them."""
    path = _path(dataset, expected["key"])
    fix = f"run `dvc repro features@{dataset}` (or `ganlab features --dataset {dataset}`)"
    if not path.is_file():
        raise ReferenceError(f"no real Inception features for protocol {expected['key']} in {features_dir(dataset)} "
                             f"(the params, data or extractor changed since they were computed); {fix}")
    try:
        with np.load(path) as stored:
            protocol, features = json.loads(str(stored["protocol"])), stored["features"]
    except (OSError, ValueError, KeyError) as err:
        raise ReferenceError(f"{path} is unreadable ({err}); delete it and {fix}") from err
    if protocol != expected or features.shape[0] != expected["n_real"]:
        raise ReferenceError(f"{path} was computed under another protocol; {fix}")
    return RealFeatures(features, protocol)
