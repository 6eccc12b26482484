"""The ``evaluate`` stage: score the final and the best generator of every training with every scorer that applies.

GAN quality can collapse late in training, so both checkpoints are scored
with the same protocol and reported separately (``final`` / ``best``; a family's other samplers, e.g. B→A,
under ``samplers.<name>``) in ``metrics/evaluate/<dataset>/<variant>/seed<k>.json``, each metric tied to its
protocol (extractor and its file hash, preprocessing, sample counts, seeds),
and logged to the training's MLflow run as ``final/<metric>`` and ``best/<metric>``. A family with the truncation
trick has its final generator also scored at every ψ of ``eval.truncation_sweep`` (``truncation``,
:mod:`pipeline.scoring.truncation_sweep`).
One draw of samples serves every scorer (each takes its first N). Like training,
the stage covers the whole matrix in one process and keeps a result whose inputs
(the generator file, the dataset's evaluation settings, the scorers' protocols
and the scoring code) are unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from analysis.features import FeatureInputError
from models.families import family_of
from models.family import Family
from pipeline.common.digest import fingerprint, sha256_file, source_digest
from pipeline.common.files import read_json, reason, write_json
from pipeline.common.layout import generators_file, metrics_file, reference_dir, stage_summary_file, train_summary_file
from pipeline.config import Config
from pipeline.data.store import PreparedData, load_prepared
from pipeline.features.passes import FeaturePasses, feature_passes
from pipeline.scoring.conditions import conditions_for
from pipeline.scoring.final_scorers import load_final_scorers
from pipeline.common.family_code import code_digest
from pipeline.scoring.registry import Scorer, scorers_for
from pipeline.scoring.sampling import EVAL_SEED, load_sampler
from pipeline.scoring.truncation_sweep import mlflow_metrics, truncation_sweep
from pipeline.tracking.store import MetricLogger, client_for, close_orphaned_runs, resolve_tracking_uri

load_final_scorers()

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
                label: str, metric_names: list[str], options: Any, sampler: str,
                round_trip: str | None = None) -> dict[str, Any]:
    """``final`` and ``best`` of one sampler scored by every scorer on one draw of samples given ``conditions`` with
    the family's sampling ``options`` (once when they are the same step). With ``round_trip`` (the family's B→A
    sampler) the samples are translated back too and given to the scorers as the condition ``cycled``."""
    n_samples = max((scorer.n_samples for scorer in scorers), default=0)
    results: dict[str, Any] = {}
    for which in ("final", "best"):
        step = int(generators[f"{which}_step"])
        if which == "best" and step == results["final"]["step"]:
            results["best"] = dict(results["final"])  # the same weights: scored once
            continue
        samples = load_sampler(generators, which, sampler).draw(n_samples, EVAL_SEED, batch_size, conditions=conditions,
                                                                options=options) if scorers else None
        given = conditions
        if round_trip is not None and samples is not None:
            given = {**conditions, "cycled": load_sampler(generators, which, round_trip).draw(
                n_samples, EVAL_SEED, batch_size, conditions={"source": samples}, options=options)}
        try:
            metrics: dict[str, Any] = {}
            for scorer in scorers:
                metrics.update(scorer.score(samples, given, f"{label} {which}"))
            status = "ok"
        except (FloatingPointError, FeatureInputError) as err:
            log.warning("%s %s generator: %s", label, which, err)
            metrics, status = dict.fromkeys(metric_names), "diverged"
        results[which] = {"step": step, "status": status, **metrics}
        log.info("%s %s (step %d): %s", label, which, step,
                 ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return results


@dataclass
class Scoring:
    """What one direction of a dataset is scored with: its prepared data (the two domains swapped for a B→A
    sampler, :meth:`PreparedData.reversed`) and the scorers built on it."""

    prepared: PreparedData
    scorers: list[Scorer]


#: The source that shapes an evaluation (what the ``evaluate`` stage of dvc.yaml lists). An evaluation's key hashes
#: it without ``models`` and adds the code of the run's family (:func:`scoring_code`).
SCORING_CODE = ("models", "pipeline/scoring", "pipeline/features/inception.py", "pipeline/datasets/__init__.py",
                "pipeline/datasets/registry.py", "pipeline/data/store.py", "pipeline/data/classifier.py",
                "pipeline/common/feature_cache.py", "analysis/mode_metrics.py", "analysis/class_metrics.py",
                "analysis/features.py", "analysis/progress.py", "analysis/frechet.py", "analysis/inception_score.py",
                "analysis/classifier.py", "analysis/inception.py", "analysis/kid.py", "analysis/precision_recall.py",
                "analysis/density_coverage.py", "analysis/neighbours.py", "analysis/pixel_error.py", "analysis/ssim.py",
                "analysis/bicubic.py", "analysis/cycle.py", "analysis/sliced_wasserstein.py", "analysis/ms_ssim.py",
                "analysis/luminance.py")


@functools.cache
def scoring_code(family: str) -> str:
    """The digest of the code an evaluation of a ``family`` run depends on: :data:`SCORING_CODE` but ``models``,
    and the family's own code (:func:`pipeline.common.family_code.code_digest`), so a new or changed family re-scores
    only its runs."""
    return fingerprint({"scoring": source_digest(tuple(path for path in SCORING_CODE if path != "models")),
                        "family": code_digest(family)})


def sampling_protocol(config: Config, family: Family) -> dict[str, Any]:
    """The family's sampling options as the protocol records them (``{}``: the family has none)."""
    options = config.sampling_options(family)
    return dataclasses.asdict(options) if options is not None else {}


def build_scorers(config: Config, dataset: str, prepared: PreparedData, task: str,
                  passes: FeaturePasses) -> list[Scorer]:
    """Every scorer of ``task`` on ``prepared``, its network passes placed by the stage's ``passes``."""
    cfg = config.for_dataset(dataset)
    scorers = [cls.build(prepared, reference_dir(dataset), cfg.eval, cls.sample_count(cfg.eval))
               for cls in scorers_for(task, prepared, cfg.eval)]
    for scorer in scorers:
        scorer.use_passes(passes)
    return scorers


def _input_key(config: Config, dataset: str, variant: str, seed: int, scorings: list[Scoring], code: str) -> str:
    """What an evaluation result depends on: the generator file, the evaluation settings, the family's sampling
    options, the scorers' protocols (extractors and real statistics) and the scoring code."""
    return fingerprint({"generators": sha256_file(generators_file(dataset, variant, seed)),
                        "eval": config.for_dataset(dataset).to_dict()["eval"],
                        "sampling": sampling_protocol(config, family_of(variant)),
                        "protocols": [scorer.protocol() for scoring in scorings for scorer in scoring.scorers],
                        "code": code})


def evaluate_run(config: Config, dataset: str, variant: str, seed: int, scorings: dict[bool, Scoring],
                 code: str) -> dict[str, Any]:
    """Score ``final`` and ``best`` of every sampler of one run (or keep its result when its inputs are unchanged);
    ``scorings`` by direction (True: a B→A sampler's)."""
    started = time.perf_counter()
    family = family_of(variant)
    generators = load_generators(dataset, variant, seed)
    key = _input_key(config, dataset, variant, seed, [scorings[spec.reverse] for spec in family.samplers], code)
    done = metrics_file(dataset, variant, seed)
    if done.is_file() and read_json(done, "evaluation result", "").get("input_key") == key:
        log.info("%s/%s seed %d: evaluation kept (inputs unchanged)", dataset, variant, seed)
        return read_json(done, "evaluation result", "")
    summary = read_json(train_summary_file(dataset, variant, seed), "training summary", retrain_hint(dataset, variant, seed))
    round_trip = next((spec.name for spec in family.samplers if spec.reverse), None)
    scored = {}
    for index, spec in enumerate(family.samplers):
        scored[spec.name] = _score_sampler(config, generators, family, scorings[spec.reverse], spec.name,
                                           f"{dataset}/{variant} seed {seed}" + (f" {spec.name}" if index else ""),
                                           round_trip if index == 0 else None)
    main, *others = family.sampler_names()
    results = scored[main]
    sweep = truncation_sweep(config, generators, family, scorings[family.samplers[0].reverse].prepared,
                             f"{dataset}/{variant} seed {seed}")
    payload = {"final": results["final"], "best": results["best"], "protocols": results["protocols"],
               "metric_protocol": results["metric_protocol"], "samplers": {name: scored[name] for name in others},
               **sweep, "run_id": summary["run_id"], "dataset": dataset, "variant": variant,
               "seed": seed, "input_key": key, "wall_time_s": round(time.perf_counter() - started, 2)}
    # MLflow first: the result file makes a re-run keep the evaluation, so it is written only once the run has the
    # metrics (a failure or Ctrl-C in between costs a re-scoring, never metrics missing from MLflow for good).
    _log_to_mlflow(config, summary["run_id"], results, {name: scored[name] for name in others},
                   sweep.get("truncation", []))
    write_json(done, payload)
    return payload


def _score_sampler(config: Config, generators: dict[str, Any], family: Family, scoring: Scoring, sampler: str,
                   label: str, round_trip: str | None) -> dict[str, Any]:
    """One sampler's ``final`` and ``best`` results with the protocols of its scorers."""
    scorers = scoring.scorers
    sampling = sampling_protocol(config, family)
    protocols = {scorer.name: _protocol({**scorer.protocol(), "noise_seed": EVAL_SEED, "generator": generators["sampler"],
                                         "sampling": sampling}) for scorer in scorers}
    metric_protocol = {name: scorer.name for scorer in scorers for name in scorer.metric_names()}
    conditions = conditions_for(family.task, scoring.prepared, max((s.n_samples for s in scorers), default=0))
    results = _score_both(scorers, generators, conditions, config.for_dataset(scoring.prepared.dataset).eval.batch_size,
                          label, list(metric_protocol), config.sampling_options(family), sampler, round_trip)
    return {**results, "protocols": protocols, "metric_protocol": metric_protocol}


def evaluate_matrix(config: Config, runs: list[tuple[str, str, int]] | None = None) -> list[dict[str, Any]]:
    """The stage: every run of ``runs`` (default: the benchmark's matrix) in one process, scorers built once per
    dataset, task and direction (Inception is loaded once; its passes run where ``ray.scoring`` says, Ray started
    once for the stage if at all: :mod:`pipeline.features.passes`)."""
    started = time.perf_counter()
    runs = runs or config.benchmark_runs()
    close_orphaned_runs(client_for(resolve_tracking_uri(config)), config.mlflow.experiment)
    with feature_passes(config.ray) as passes:
        results = _evaluate_runs(config, runs, passes)
    write_json(stage_summary_file("evaluate"), {"stage": "evaluate", "runs": len(runs),
                                                "wall_time_s": round(time.perf_counter() - started, 2)})
    return results


def _evaluate_runs(config: Config, runs: list[tuple[str, str, int]], passes: FeaturePasses) -> list[dict[str, Any]]:
    """Every run of ``runs`` evaluated (or kept), scorers built once per dataset, task and direction."""
    prepared: dict[str, PreparedData] = {}
    scorings: dict[tuple[str, str, bool], Scoring] = {}
    results = []
    for dataset, variant, seed in runs:
        family = family_of(variant)
        if dataset not in prepared:
            prepared[dataset] = load_prepared(dataset)
        directions = {}
        for reverse in {spec.reverse for spec in family.samplers}:
            if (dataset, family.task, reverse) not in scorings:
                data = prepared[dataset].reversed() if reverse else prepared[dataset]
                scorings[dataset, family.task, reverse] = Scoring(data, build_scorers(config, dataset, data, family.task,
                                                                                      passes))
            directions[reverse] = scorings[dataset, family.task, reverse]
        results.append(evaluate_run(config, dataset, variant, seed, directions, scoring_code(family.name)))
    return results


def evaluate(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """One run's evaluation (see :func:`evaluate_matrix`)."""
    return evaluate_matrix(config, [(dataset, variant, seed)])[0]


def _log_to_mlflow(config: Config, run_id: str, results: dict[str, Any], others: dict[str, dict[str, Any]],
                   truncation: list[dict[str, Any]]) -> None:
    """The main sampler's metrics as ``final/<metric>`` and ``best/<metric>``, another sampler's as
    ``<sampler>/final/<metric>``, the truncation sweep's as ``truncation/psi_<ψ>/<metric>``."""
    named = [("", results)] + [(f"{sampler}/", scored) for sampler, scored in others.items()]
    flat = {f"{prefix}{which}/{name}": value for prefix, scored in named for which in ("final", "best")
            for name, value in scored[which].items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}
    logger = MetricLogger(resolve_tracking_uri(config), run_id)
    logger.log(int(results["final"]["step"]), {**flat, **mlflow_metrics(truncation)})
    logger.flush()
