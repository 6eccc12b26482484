"""The ``evaluate`` stage: score the final and the best generator of every training with every scorer that applies.

GAN quality can collapse late in training, so both checkpoints are scored
with the same protocol and reported separately (``final`` / ``best``) in
``metrics/evaluate/<dataset>/<variant>/seed<k>.json``, each metric tied to its
protocol (extractor and its file hash, preprocessing, sample counts, seeds),
and logged to the training's MLflow run as ``final/<metric>`` and ``best/<metric>``.
One draw of samples serves every scorer (each takes its first N). Like training,
the stage covers the whole matrix in one process and keeps a result whose inputs
(the generator file, the dataset's evaluation settings, the scorers' protocols
and the scoring code) are unchanged.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import torch

from analysis.features import FeatureInputError
from models.families import family_of
from pipeline.common.digest import fingerprint, sha256_file, source_digest
from pipeline.common.files import read_json, reason, write_json
from pipeline.common.layout import generators_file, metrics_file, reference_dir, stage_summary_file, train_summary_file
from pipeline.config import Config
from pipeline.data.store import PreparedData, load_prepared
from pipeline.scoring.conditions import conditions_for
from pipeline.scoring.registry import Scorer, scorers_for
from pipeline.scoring.sampling import EVAL_SEED, load_sampler
from pipeline.tracking.store import MetricLogger, client_for, close_orphaned_runs, resolve_tracking_uri

log = logging.getLogger("ganlab.evaluate")


class GeneratorFileError(RuntimeError):
    """A generator file that is missing or cannot be read; the message says how to rebuild it."""


def retrain_hint(dataset: str, variant: str, seed: int) -> str:
    return (f"run `dvc repro train` (or `ganlab train --dataset {dataset} --variant {variant} --seed {seed}`)")


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


def _score_both(scorers: list[Scorer], generators: dict[str, Any], conditions: dict[str, Any], batch_size: int,
                label: str, metric_names: list[str]) -> dict[str, Any]:
    """``final`` and ``best`` scored by every scorer on one draw of samples given ``conditions`` (once when they are
    the same step)."""
    n_samples = max((scorer.n_samples for scorer in scorers), default=0)
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


#: The source that shapes an evaluation (what the ``evaluate`` stage of dvc.yaml lists).
SCORING_CODE = ("models", "pipeline/scoring", "pipeline/features/inception.py", "pipeline/data/store.py",
                "pipeline/data/classifier.py", "pipeline/common/feature_cache.py", "analysis/mode_metrics.py",
                "analysis/class_metrics.py", "analysis/features.py", "analysis/progress.py", "analysis/frechet.py",
                "analysis/inception_score.py", "analysis/classifier.py", "analysis/inception.py", "analysis/kid.py",
                "analysis/precision_recall.py", "analysis/density_coverage.py", "analysis/neighbours.py",
                "analysis/pixel_error.py", "analysis/ssim.py", "analysis/bicubic.py")


def build_scorers(config: Config, dataset: str, prepared: PreparedData, task: str) -> list[Scorer]:
    cfg = config.for_dataset(dataset)
    return [cls.build(prepared, reference_dir(dataset), cfg.eval, cls.sample_count(cfg.eval))
            for cls in scorers_for(task, prepared, cfg.eval)]


def _input_key(config: Config, dataset: str, variant: str, seed: int, scorers: list[Scorer], code: str) -> str:
    """What an evaluation result depends on: the generator file, the evaluation settings, the scorers' protocols
    (extractors and real statistics) and the scoring code."""
    return fingerprint({"generators": sha256_file(generators_file(dataset, variant, seed)),
                        "eval": config.for_dataset(dataset).to_dict()["eval"],
                        "protocols": [scorer.protocol() for scorer in scorers], "code": code})


def evaluate_run(config: Config, dataset: str, variant: str, seed: int, scorers: list[Scorer], prepared: PreparedData,
                 code: str) -> dict[str, Any]:
    """Score ``final`` and ``best`` of one run (or keep its result when its inputs are unchanged)."""
    started = time.perf_counter()
    generators = load_generators(dataset, variant, seed)
    key = _input_key(config, dataset, variant, seed, scorers, code)
    done = metrics_file(dataset, variant, seed)
    if done.is_file() and read_json(done, "evaluation result", "").get("input_key") == key:
        log.info("%s/%s seed %d: evaluation kept (inputs unchanged)", dataset, variant, seed)
        return read_json(done, "evaluation result", "")
    summary = read_json(train_summary_file(dataset, variant, seed), "training summary", retrain_hint(dataset, variant, seed))
    generator_kind = "EMA" if generators["ema"] else "raw"
    protocols = {scorer.name: _protocol({**scorer.protocol(), "noise_seed": EVAL_SEED, "generator": generator_kind})
                 for scorer in scorers}
    metric_protocol = {name: scorer.name for scorer in scorers for name in scorer.metric_names()}
    conditions = conditions_for(family_of(variant).task, prepared, max((s.n_samples for s in scorers), default=0))
    results = _score_both(scorers, generators, conditions, config.for_dataset(dataset).eval.batch_size,
                          f"{dataset}/{variant} seed {seed}", list(metric_protocol))
    payload = {"final": results["final"], "best": results["best"], "protocols": protocols,
               "metric_protocol": metric_protocol, "run_id": summary["run_id"], "dataset": dataset, "variant": variant,
               "seed": seed, "input_key": key, "wall_time_s": round(time.perf_counter() - started, 2)}
    # MLflow first: the result file makes a re-run keep the evaluation, so it is written only once the run has the
    # metrics (a failure or Ctrl-C in between costs a re-scoring, never metrics missing from MLflow for good).
    _log_to_mlflow(config, summary["run_id"], results)
    write_json(done, payload)
    return payload


def evaluate_matrix(config: Config, runs: list[tuple[str, str, int]] | None = None) -> list[dict[str, Any]]:
    """The stage: every run of ``runs`` (default: the benchmark's matrix) in one process, scorers built once per
    dataset and task (Inception is loaded once)."""
    started = time.perf_counter()
    runs = runs or config.benchmark_runs()
    close_orphaned_runs(client_for(resolve_tracking_uri(config)), config.mlflow.experiment)
    code, prepared, scorers, results = source_digest(SCORING_CODE), {}, {}, []
    for dataset, variant, seed in runs:
        task = family_of(variant).task
        if dataset not in prepared:
            prepared[dataset] = load_prepared(dataset)
        if (dataset, task) not in scorers:
            scorers[dataset, task] = build_scorers(config, dataset, prepared[dataset], task)
        results.append(evaluate_run(config, dataset, variant, seed, scorers[dataset, task], prepared[dataset], code))
    write_json(stage_summary_file("evaluate"), {"stage": "evaluate", "runs": len(runs),
                                                "wall_time_s": round(time.perf_counter() - started, 2)})
    return results


def evaluate(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """One run's evaluation (see :func:`evaluate_matrix`)."""
    return evaluate_matrix(config, [(dataset, variant, seed)])[0]


def _log_to_mlflow(config: Config, run_id: str, results: dict[str, Any]) -> None:
    flat = {f"{which}/{name}": value for which, metrics in results.items() for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
    logger = MetricLogger(resolve_tracking_uri(config), run_id)
    logger.log(int(results["final"]["step"]), flat)
    logger.flush()
