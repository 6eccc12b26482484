"""The ``train`` stage: one GAN training through Ray Train, tracked in MLflow, exported into ``runs/``.

The driver resolves the job, opens (or reopens, after an interruption) the MLflow run, runs it on Ray
Train (:mod:`pipeline.training.ray_train`) and writes the outputs (:mod:`pipeline.training.export`).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from analysis.progress import interactive
from models.families import get_family
from pipeline.cluster.session import ray_session
from pipeline.common.layout import prepared_dir, ray_storage, reference_dir, resume_dir
from pipeline.config import Config
from pipeline.data.store import data_spec, load_prepared
from pipeline.tracking.git import git_commit
from pipeline.tracking.store import (client_for, close_orphaned_runs, driver_tags, resolve_tracking_uri, retrying,
                                     start_run)
from pipeline.scoring.registry import in_training_scorer
from pipeline.training.checkpoint import load_checkpoint
from pipeline.training.export import export_run
from pipeline.training.job import TrainingJob, resolve_job
from pipeline.training.loop import steady_rate
from pipeline.training.ray_train import checkpoint_to_resume, run_trainer

log = logging.getLogger("ganlab.train")


def _resume_point(job: TrainingJob, client: Any) -> tuple[Path | None, str | None]:
    """Where an interrupted run of this job left off: a copy of its latest checkpoint and its MLflow run."""
    found = checkpoint_to_resume(job, ray_storage())
    if found is None:
        return None, None
    resume_from, state = found
    run_id = _existing_run(client, state.get("run_id"))
    log.info("%s: resuming the interrupted run from step %d (MLflow run %s)", job.name, state["step"], run_id or "new")
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
        for key, value in driver_tags().items():
            client.set_tag(run_id, key, value)
    return resume_from, run_id


def _existing_run(client: Any, run_id: str | None) -> str | None:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        return client.get_run(run_id).info.run_id
    except MlflowException:
        return None


def _open_run(job: TrainingJob, config: Config, client: Any) -> tuple[Path | None, str]:
    """(the checkpoint to resume from or None, the MLflow run): the interrupted run's, else a new one."""
    resume_from, run_id = _resume_point(job, client)
    if run_id is None:
        tags = {"dataset": job.dataset, "variant": job.variant, "family": job.family, "seed": str(job.seed),
                "stage": "train", "git_commit": git_commit(), "ganlab.fingerprint": job.fingerprint()}
        params = {**job.as_params(), "global_batch_size": job.global_batch_size, "ray": dataclasses.asdict(config.ray)}
        run_id = start_run(client, config.mlflow.experiment, job.name, params, tags)
    return resume_from, run_id


def _train_summary(job: TrainingJob, state: dict[str, Any], run_id: str, started: float) -> dict[str, Any]:
    """``train_summary.json``: the run, its steps and speed, the best step, its workers and resumes."""
    best = state["best"]
    return {
        "run_id": run_id, "steps": state["step"], "diverged_at": state["diverged_at"],
        "best_step": best["step"] if best else None, "best_metrics": best["metrics"] if best else {},
        "wall_time_s": round(time.time() - started, 2), "steps_per_s": steady_rate(state["history"]),
        "num_workers": job.world_size, "global_batch_size": job.global_batch_size, "workers": state["workers"],
        "replica_digests": state["replicas"], "resumed_from": state["resumed_from"],
        "fingerprint": job.fingerprint(), "variant": job.variant, "family": job.family, "dataset": job.dataset,
        "seed": job.seed,
    }


def train(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """Run one training end to end; returns the summary written to ``train_summary.json``."""
    prepared = load_prepared(dataset)
    job = resolve_job(config, dataset, variant, seed, data_spec(prepared), prepared_dir(dataset), reference_dir(dataset))
    # The files the workers will read, checked here: a damaged one is one clear error, not a worker's traceback.
    in_training_scorer(get_family(job.family).task, prepared, reference_dir(dataset), job.eval, job.train.eval_samples)
    uri = resolve_tracking_uri(config)
    client = client_for(uri)
    close_orphaned_runs(client, config.mlflow.experiment)
    resume_from, run_id = _open_run(job, config, client)
    log.info("%s: MLflow run %s in %s; %d worker(s), global batch %d", job.name, run_id, uri,
             job.world_size, job.global_batch_size)
    started = time.time()
    try:
        with ray_session(config.ray):
            checkpoint_dir = run_trainer(job, config, run_id, uri, resume_from, ray_storage(),
                                         progress_bar=interactive())
        state = load_checkpoint(checkpoint_dir, job.fingerprint())
        summary = _train_summary(job, state, run_id, started)
        for path in export_run(job, state, checkpoint_dir, summary).values():
            retrying(lambda: client.log_artifact(run_id, str(path)), f"{job.name}: logging {path.name}")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    retrying(lambda: client.set_terminated(run_id, "FINISHED"), f"{job.name}: closing MLflow run {run_id}")
    for scratch in (ray_storage() / job.name, resume_dir(ray_storage(), job.name)):  # finished: nothing to resume
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("%s: done in %.0fs (%d steps)%s", job.name, summary["wall_time_s"], summary["steps"],
             f", diverged at step {summary['diverged_at']}" if summary["diverged_at"] else "")
    return summary
