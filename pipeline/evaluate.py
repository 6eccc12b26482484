"""The ``evaluate`` stage: score the final and the best generator of one training.

GAN quality can collapse late in training, so both checkpoints are scored
with the same protocol and reported separately (``final`` / ``best``) in
``metrics/<dataset>/<variant>/seed<k>.json``, each metric tied to its
protocol (extractor and its file hash, preprocessing, sample counts, seeds),
and logged to the training's MLflow run as ``final/<metric>`` and ``best/<metric>``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from analysis.features import FeatureInputError
from pipeline.config import Config, fingerprint
from pipeline.files import read_json, write_json
from pipeline.inception_scoring import InceptionScorer
from pipeline.layout import metrics_file, model_dir, reference_dir, run_dir
from pipeline.prepared import load_prepared
from pipeline.scoring import build_scorer, generate
from pipeline.tracking import MetricLogger, resolve_tracking_uri
from pipeline.train import GENERATORS_FILE, load_generator

log = logging.getLogger("ganlab.evaluate")
#: Noise seed of evaluation samples (fixed, recorded in the protocol).
EVAL_SEED = 2024


def _fix(dataset: str, variant: str, seed: int) -> str:
    return f"run `dvc repro train@{dataset}-{variant}-{seed}` (or `ganlab train --dataset {dataset} --variant {variant} --seed {seed}`)"


def load_generators(dataset: str, variant: str, seed: int) -> dict[str, Any]:
    path = model_dir(dataset, variant, seed) / GENERATORS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"trained generators {path} are missing; {_fix(dataset, variant, seed)}")
    return torch.load(path, map_location="cpu", weights_only=True)


def _protocol(body: dict[str, Any]) -> dict[str, Any]:
    """A protocol with its ``id`` (a hash of the rest): equal ids ⇔ comparable numbers."""
    return {**body, "id": fingerprint(body)[:8]}


def evaluate(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """Score ``final`` and ``best``; every metric is tied to a protocol (``metric_protocol`` → ``protocols``)."""
    started = time.perf_counter()
    cfg = config.for_dataset(dataset)
    prepared = load_prepared(dataset)
    scorer = build_scorer(prepared, reference_dir(dataset), cfg.eval, cfg.eval.n_samples)
    inception = InceptionScorer.build(prepared, cfg.eval)
    generators = load_generators(dataset, variant, seed)
    summary = read_json(run_dir(dataset, variant, seed) / "train_summary.json", "training summary", _fix(dataset, variant, seed))
    generator_kind = "EMA" if generators["ema"] else "raw"
    protocols: dict[str, dict[str, Any]] = {}
    metric_protocol: dict[str, str] = {}
    if scorer.metric_names():
        protocols[scorer.kind] = _protocol({**scorer.protocol(), "noise_seed": EVAL_SEED, "generator": generator_kind})
        metric_protocol.update(dict.fromkeys(scorer.metric_names(), scorer.kind))
    if inception is not None:
        protocols["inception"] = _protocol({**inception.protocol(), "noise_seed": EVAL_SEED, "generator": generator_kind})
        metric_protocol.update(dict.fromkeys(inception.metric_names(), "inception"))
    n_samples = max(cfg.eval.n_samples, inception.n_samples if inception else 0)  # one draw serves both scorers
    results: dict[str, Any] = {}
    for which in ("final", "best"):
        step = int(generators[f"{which}_step"])
        if which == "best" and step == results["final"]["step"]:
            results["best"] = dict(results["final"])  # the same weights: scored once
            continue
        generator = load_generator(generators["network"], generators[which])
        samples = generate(generator, n_samples, generators["network"]["z_dim"], EVAL_SEED, cfg.eval.batch_size)
        label = f"{dataset}/{variant} seed {seed} {which}"
        try:
            metrics: dict[str, Any] = scorer.score(samples[: cfg.eval.n_samples])
            if inception is not None:
                metrics.update(inception.score(samples, label))
            status = "ok"
        except (FloatingPointError, FeatureInputError) as err:
            log.warning("%s generator: %s", label, err)
            metrics, status = dict.fromkeys(metric_protocol), "diverged"
        results[which] = {"step": step, "status": status, **metrics}
        log.info("%s (step %d): %s", label, step,
                 ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    payload = {"final": results["final"], "best": results["best"], "protocols": protocols,
               "metric_protocol": metric_protocol, "run_id": summary["run_id"], "dataset": dataset,
               "variant": variant, "seed": seed, "wall_time_s": round(time.perf_counter() - started, 2)}
    write_json(metrics_file(dataset, variant, seed), payload)
    _log_to_mlflow(config, summary["run_id"], results)
    return payload


def _log_to_mlflow(config: Config, run_id: str, results: dict[str, Any]) -> None:
    flat = {f"{which}/{name}": value for which, metrics in results.items() for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
    MetricLogger(resolve_tracking_uri(config), run_id).log(int(results["final"]["step"]), flat)
