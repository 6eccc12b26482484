"""The ``evaluate`` stage: score the final and the best generator of one training.

GAN quality can collapse late in training, so both checkpoints are scored
with the same protocol and reported separately (``final`` / ``best``) in
``metrics/<dataset>/<variant>/seed<k>.json``, with the protocol beside them,
and logged to the training's MLflow run as ``final/<metric>`` and ``best/<metric>``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch

from pipeline.config import Config
from pipeline.files import read_json, write_json
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


def evaluate(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    cfg = config.for_dataset(dataset)
    prepared = load_prepared(dataset)
    scorer = build_scorer(prepared, reference_dir(dataset), cfg.eval, cfg.eval.n_samples)
    generators = load_generators(dataset, variant, seed)
    summary = read_json(run_dir(dataset, variant, seed) / "train_summary.json", "training summary", _fix(dataset, variant, seed))
    results: dict[str, Any] = {}
    for which in ("final", "best"):
        generator = load_generator(generators["network"], generators[which])
        samples = generate(generator, cfg.eval.n_samples, generators["network"]["z_dim"], EVAL_SEED, cfg.eval.batch_size)
        try:
            metrics: dict[str, Any] = scorer.score(samples)
            status = "ok"
        except FloatingPointError as err:
            log.warning("%s/%s seed %d %s generator: %s", dataset, variant, seed, which, err)
            metrics, status = dict.fromkeys(scorer.metric_names()), "diverged"
        results[which] = {"step": int(generators[f"{which}_step"]), "status": status, **metrics}
        log.info("%s/%s seed %d %s (step %d): %s", dataset, variant, seed, which, results[which]["step"],
                 ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    protocol = {**scorer.protocol(), "noise_seed": EVAL_SEED, "generator": "EMA" if generators["ema"] else "raw"}
    payload = {"final": results["final"], "best": results["best"], "protocol": protocol,
               "run_id": summary["run_id"], "dataset": dataset, "variant": variant, "seed": seed}
    write_json(metrics_file(dataset, variant, seed), payload)
    _log_to_mlflow(config, summary["run_id"], results)
    return payload


def _log_to_mlflow(config: Config, run_id: str, results: dict[str, Any]) -> None:
    flat = {f"{which}/{name}": value for which, metrics in results.items() for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
    MetricLogger(resolve_tracking_uri(config), run_id).log(int(results["final"]["step"]), flat)
