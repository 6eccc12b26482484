"""The ``evaluate`` stage: score the final and the best generator of one training with every scorer that applies.

GAN quality can collapse late in training, so both checkpoints are scored
with the same protocol and reported separately (``final`` / ``best``) in
``metrics/<dataset>/<variant>/seed<k>.json``, each metric tied to its
protocol (extractor and its file hash, preprocessing, sample counts, seeds),
and logged to the training's MLflow run as ``final/<metric>`` and ``best/<metric>``.
One draw of samples serves every scorer (each takes its first N).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import torch

from analysis.features import FeatureInputError
from models.families import family_of
from models.family import DataSpec, from_plain
from pipeline.common.digest import fingerprint
from pipeline.common.files import read_json, reason, write_json
from pipeline.common.layout import generators_file, metrics_file, reference_dir, train_summary_file
from pipeline.config import Config
from pipeline.data.store import load_prepared
from pipeline.scoring.registry import Scorer, scorers_for
from pipeline.scoring.sampling import EVAL_SEED, conditions_for, load_sampler
from pipeline.tracking.store import MetricLogger, client_for, close_orphaned_runs, resolve_tracking_uri

log = logging.getLogger("ganlab.evaluate")


class GeneratorFileError(RuntimeError):
    """A generator file that is missing or cannot be read; the message says how to rebuild it."""


def retrain_hint(dataset: str, variant: str, seed: int) -> str:
    return (f"run `dvc repro train@{dataset}-{variant}-{seed}` (or `ganlab train --dataset {dataset} "
            f"--variant {variant} --seed {seed}`)")


def load_generators(dataset: str, variant: str, seed: int) -> dict[str, Any]:
    path = generators_file(dataset, variant, seed)
    if not path.is_file():
        raise GeneratorFileError(f"trained generators {path} are missing; {retrain_hint(dataset, variant, seed)}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises OSError, RuntimeError, UnpicklingError, EOFError… for damaged files
        raise GeneratorFileError(f"trained generators {path} cannot be read ({reason(err)}); "
                                 f"{retrain_hint(dataset, variant, seed)}") from err


def _protocol(body: dict[str, Any]) -> dict[str, Any]:
    """A protocol with its ``id`` (a hash of the rest): equal ids ⇔ comparable numbers."""
    return {**body, "id": fingerprint(body)[:8]}


def _score_both(scorers: list[Scorer], generators: dict[str, Any], task: str, batch_size: int, label: str,
                metric_names: list[str]) -> dict[str, Any]:
    """``final`` and ``best`` scored by every scorer on one draw of samples (once when they are the same step)."""
    n_samples = max((scorer.n_samples for scorer in scorers), default=0)
    conditions = conditions_for(task, from_plain(DataSpec, generators["data"]), n_samples)
    results: dict[str, Any] = {}
    for which in ("final", "best"):
        step = int(generators[f"{which}_step"])
        if which == "best" and step == results["final"]["step"]:
            results["best"] = dict(results["final"])  # the same weights: scored once
            continue
        samples = load_sampler(generators, which).draw(n_samples, EVAL_SEED, batch_size, conditions=conditions) \
            if scorers else None
        try:
            metrics: dict[str, Any] = {}
            for scorer in scorers:
                metrics.update(scorer.score(samples, conditions, f"{label} {which}"))
            status = "ok"
        except (FloatingPointError, FeatureInputError) as err:
            log.warning("%s %s generator: %s", label, which, err)
            metrics, status = dict.fromkeys(metric_names), "diverged"
        results[which] = {"step": step, "status": status, **metrics}
        log.info("%s %s (step %d): %s", label, which, step,
                 ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return results


def evaluate(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """Score ``final`` and ``best``; every metric is tied to a protocol (``metric_protocol`` → ``protocols``)."""
    started = time.perf_counter()
    close_orphaned_runs(client_for(resolve_tracking_uri(config)), config.mlflow.experiment)
    cfg = config.for_dataset(dataset)
    prepared = load_prepared(dataset)
    task = family_of(variant).task
    scorers = [cls.build(prepared, reference_dir(dataset), cfg.eval, cls.sample_count(cfg.eval))
               for cls in scorers_for(task, prepared, cfg.eval)]
    generators = load_generators(dataset, variant, seed)
    summary = read_json(train_summary_file(dataset, variant, seed), "training summary", retrain_hint(dataset, variant, seed))
    generator_kind = "EMA" if generators["ema"] else "raw"
    protocols = {scorer.name: _protocol({**scorer.protocol(), "noise_seed": EVAL_SEED, "generator": generator_kind})
                 for scorer in scorers}
    metric_protocol = {name: scorer.name for scorer in scorers for name in scorer.metric_names()}
    results = _score_both(scorers, generators, task, cfg.eval.batch_size, f"{dataset}/{variant} seed {seed}",
                          list(metric_protocol))
    payload = {"final": results["final"], "best": results["best"], "protocols": protocols,
               "metric_protocol": metric_protocol, "run_id": summary["run_id"], "dataset": dataset,
               "variant": variant, "seed": seed, "wall_time_s": round(time.perf_counter() - started, 2)}
    write_json(metrics_file(dataset, variant, seed), payload)
    _log_to_mlflow(config, summary["run_id"], results)
    return payload


def _log_to_mlflow(config: Config, run_id: str, results: dict[str, Any]) -> None:
    flat = {f"{which}/{name}": value for which, metrics in results.items() for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
    logger = MetricLogger(resolve_tracking_uri(config), run_id)
    logger.log(int(results["final"]["step"]), flat)
    logger.flush()
