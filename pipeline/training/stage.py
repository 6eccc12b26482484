"""The ``train`` stage: every training of the matrix on Ray at once, each tracked in MLflow and exported into ``runs/``.

:func:`train_matrix` resolves the jobs, keeps the runs whose key is unchanged (:mod:`.run_cache`) and fans the
others out over the cluster (:mod:`.matrix`); each of those is :func:`pipeline.training.run.train_job`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from models.families import get_family
from pipeline.common.files import write_json
from pipeline.common.layout import prepared_dir, reference_dir, stage_summary_file
from pipeline.config import Config
from pipeline.data.store import data_spec, load_prepared
from pipeline.tracking.store import client_for, close_orphaned_runs, resolve_tracking_uri
from pipeline.scoring.registry import in_training_scorer
from pipeline.training.job import TrainingJob, resolve_job
from pipeline.training.matrix import fan_out
from pipeline.training.run_cache import code_digest, kept, run_key

log = logging.getLogger("ganlab.train")


def train(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """One run of the matrix (see :func:`train_matrix`)."""
    return train_matrix(config, [(dataset, variant, seed)])[0]


def resolve_runs(config: Config, runs: list[tuple[str, str, int]]) -> tuple[list[TrainingJob], dict[str, str]]:
    """The jobs of ``runs`` and their keys; each dataset's files the workers will read are checked here, so a
    damaged one is one clear error rather than a worker's traceback."""
    jobs, keys, code = [], {}, code_digest()
    for dataset in dict.fromkeys(dataset for dataset, _, _ in runs):
        prepared = load_prepared(dataset)
        for _, variant, seed in (run for run in runs if run[0] == dataset):
            job = resolve_job(config, dataset, variant, seed, data_spec(prepared), prepared_dir(dataset),
                              reference_dir(dataset))
            in_training_scorer(get_family(job.family).task, prepared, reference_dir(dataset), job.eval,
                               job.train.eval_samples)
            jobs.append(job)
            keys[job.name] = run_key(job, prepared.manifest, code)
    return jobs, keys


def train_matrix(config: Config, runs: list[tuple[str, str, int]] | None = None) -> list[dict[str, Any]]:
    """Train every run of ``runs`` (default: the benchmark's matrix) whose outputs are not current, all at once on
    Ray; returns every run's summary (kept ones included), in the order of ``runs``."""
    started = time.time()
    runs = runs or config.benchmark_runs()
    jobs, keys = resolve_runs(config, runs)
    close_orphaned_runs(client_for(resolve_tracking_uri(config)), config.mlflow.experiment)
    current = {job.name: kept(job, keys[job.name]) for job in jobs}
    todo = [job for job in jobs if current[job.name] is None]
    log.info("%d run(s): %d kept (unchanged), %d to train", len(jobs), len(jobs) - len(todo), len(todo))
    if todo:
        fan_out(config, todo, keys)
    summaries = [current[job.name] or kept(job, keys[job.name]) for job in jobs]
    for job, summary in zip(jobs, summaries):
        write_json(stage_summary_file("train", job.dataset, job.variant, job.seed), summary)
    write_json(stage_summary_file("train"), {"stage": "train", "runs": len(jobs), "trained": len(todo),
                                             "kept": len(jobs) - len(todo), "wall_time_s": round(time.time() - started, 2)})
    return summaries
