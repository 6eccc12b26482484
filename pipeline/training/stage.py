"""The ``train`` stage: every training of the matrix on Ray at once, each tracked in MLflow and exported into ``runs/``.

:func:`train_matrix` resolves the jobs, keeps the runs whose key is unchanged (:mod:`.run_cache`), collects the
runs a stopped stage finished (:mod:`.outputs`) and fans the others out over the cluster (:mod:`.matrix`); each of
those is :func:`pipeline.training.run.train_job`. From outside the cluster (``ray.address: http://head:8265``)
the same fan-out runs as a Ray job (:mod:`pipeline.cluster.jobs`) and its run folders come back into ``runs/``.
A run that fails, or whose files never arrive, fails the stage by name once every other run is kept.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from models.families import get_family
from pipeline.cluster.jobs import Submission, check_submittable, run_as_job
from pipeline.cluster.session import jobs_address
from pipeline.cluster.storage import storage_root
from pipeline.common.files import write_json
from pipeline.common.layout import prepared_dir, reference_dir, run_dir, stage_summary_file
from pipeline.config import Config
from pipeline.data.store import data_spec, load_prepared
from pipeline.tracking.git import git_commit
from pipeline.tracking.store import client_for, close_orphaned_runs, driver_tags, experiment_id, resolve_tracking_uri
from pipeline.scoring.registry import in_training_scorer
from pipeline.training.extension import stage_extensions
from pipeline.training.job import TrainingJob, resolve_job
from pipeline.training.matrix import FanOutResult, fan_out, without_outputs
from pipeline.training.outputs import collect
from pipeline.training.ray_train import TrainingFailed, TrainingInterrupted
from pipeline.common.family_code import code_digest
from pipeline.training.run_cache import kept, run_key

log = logging.getLogger("ganlab.train")


def train(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """One run of the matrix (see :func:`train_matrix`)."""
    return train_matrix(config, [(dataset, variant, seed)])[0]


def resolve_runs(config: Config, runs: list[tuple[str, str, int]]) -> tuple[list[TrainingJob], dict[str, str]]:
    """The jobs of ``runs`` and their keys; each dataset's files the workers will read are checked here, so a
    damaged one is one clear error rather than a worker's traceback."""
    jobs, keys, codes = [], {}, {}
    for dataset in dict.fromkeys(dataset for dataset, _, _ in runs):
        prepared = load_prepared(dataset)
        for _, variant, seed in (run for run in runs if run[0] == dataset):
            job = resolve_job(config, dataset, variant, seed, data_spec(prepared))
            in_training_scorer(get_family(job.family).task, prepared, reference_dir(dataset), job.eval,
                               job.train.eval_samples)
            jobs.append(job)
            if job.family not in codes:
                codes[job.family] = code_digest(job.family)
            keys[job.name] = run_key(job, prepared.manifest, codes[job.family])
    return jobs, keys


def _train_remotely(config: Config, jobs: list[TrainingJob], keys: dict[str, str], uri: str) -> FanOutResult:
    """From outside the cluster: the runs of ``jobs`` as one Ray job, their run folders brought back into ``runs/``."""
    datasets = list(dict.fromkeys(job.dataset for job in jobs))
    inputs = [str(folder(dataset)) for dataset in datasets for folder in (prepared_dir, reference_dir)]
    submission = Submission("train", [[job.dataset, job.variant, job.seed] for job in jobs], False,
                            [str(run_dir(job.dataset, job.variant, job.seed)) for job in jobs])
    error = run_as_job(config, uri, submission, inputs)
    failed = {job.name: error or "its run folder did not come back from the cluster"
              for job in jobs if kept(job, keys[job.name]) is None}
    return FanOutResult(failed, [])


def _train(config: Config, todo: list[TrainingJob], keys: dict[str, str], uri: str) -> FanOutResult:
    """Train ``todo`` (on the cluster this driver joins or starts, else as a Ray job) and collect their files."""
    if jobs_address(config.ray):
        return _train_remotely(config, todo, keys, uri)
    storage = storage_root(config.ray.storage)
    stage_extensions(todo, storage)
    result = fan_out(config, todo, keys, uri, driver_tags(), git_commit())
    arrived = [job.name for job in todo if collect(job, keys[job.name], storage) is not None]
    return without_outputs(result, [job.name for job in todo if job.name not in arrived], storage.location)


def _raise_for(result: FanOutResult, total: int) -> None:
    if result.failed:
        raise TrainingFailed(f"{len(result.failed)} of {total} run(s) failed: "
                             + "; ".join(f"{name} ({why})" for name, why in sorted(result.failed.items()))
                             + ". The others are trained and kept: run the stage again to retry only these")
    if result.unfinished:
        raise TrainingInterrupted(f"the stage was stopped with {len(result.unfinished)} run(s) unfinished "
                                  f"({', '.join(sorted(result.unfinished))}); their checkpoints are kept: run it "
                                  "again to resume them")


def train_matrix(config: Config, runs: list[tuple[str, str, int]] | None = None) -> list[dict[str, Any]]:
    """Train every run of ``runs`` (default: the benchmark's matrix) whose outputs are not current, all at once on
    Ray; returns every run's summary (kept ones included), in the order of ``runs``."""
    started = time.time()
    runs = runs or config.benchmark_runs()
    jobs, keys = resolve_runs(config, runs)
    uri = resolve_tracking_uri(config)
    remote = jobs_address(config.ray) is not None
    if remote:
        check_submittable(config, uri)
    client = client_for(uri)
    experiment_id(client, config.mlflow.experiment)  # created here, before any trial could race to create it
    close_orphaned_runs(client, config.mlflow.experiment)
    storage = None if remote else storage_root(config.ray.storage)
    current = {job.name: kept(job, keys[job.name]) or (collect(job, keys[job.name], storage) if storage else None)
               for job in jobs}
    todo = [job for job in jobs if current[job.name] is None]
    log.info("%d run(s): %d kept (unchanged), %d to train", len(jobs), len(jobs) - len(todo), len(todo))
    result = _train(config, todo, keys, uri) if todo else FanOutResult({}, [])
    summaries = [current[job.name] or kept(job, keys[job.name]) for job in jobs]
    for job, summary in zip(jobs, summaries):
        path = stage_summary_file("train", job.dataset, job.variant, job.seed)
        if summary is not None:
            write_json(path, summary)
        else:
            path.unlink(missing_ok=True)  # no stale summary of an earlier key beside the runs that failed
    write_json(stage_summary_file("train"), {"stage": "train", "runs": len(jobs), "trained": len(todo) - len(result.failed),
                                             "kept": len(jobs) - len(todo), "wall_time_s": round(time.time() - started, 2)})
    _raise_for(result, len(jobs))
    return summaries
