"""One training run end to end, inside a Ray session: open (or reopen, after an interruption) its MLflow run, run
it on Ray Train (:mod:`.ray_train`), write its outputs (:mod:`.export`), close the run. What the fan-out's trials
call (:mod:`.matrix`)."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from pipeline.common.layout import ray_storage, resume_dir
from pipeline.config import Config
from pipeline.tracking.git import git_commit
from pipeline.tracking.store import client_for, driver_tags, resolve_tracking_uri, retrying, start_run
from pipeline.training.checkpoint import load_checkpoint
from pipeline.training.export import export_run
from pipeline.training.job import TrainingJob
from pipeline.training.clock import steady_rate
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


def _train_summary(job: TrainingJob, state: dict[str, Any], run_id: str, started: float, key: str) -> dict[str, Any]:
    """``train_summary.json``: the run, its steps and speed, the best step, its workers and resumes."""
    best = state["best"]
    return {
        "run_id": run_id, "steps": state["step"], "diverged_at": state["diverged_at"],
        "best_step": best["step"] if best else None, "best_metrics": best["metrics"] if best else {},
        "wall_time_s": round(time.time() - started, 2), "steps_per_s": steady_rate(state["history"]),
        "num_workers": job.world_size, "global_batch_size": job.global_batch_size, "workers": state["workers"],
        "replica_digests": state["replicas"], "resumed_from": state["resumed_from"],
        "fingerprint": job.fingerprint(), "run_key": key, "variant": job.variant, "family": job.family,
        "dataset": job.dataset, "seed": job.seed,
    }


def train_job(job: TrainingJob, config: Config, key: str) -> dict[str, Any]:
    """Run one training end to end (inside a Ray session); returns the summary written to ``train_summary.json``."""
    uri = resolve_tracking_uri(config)
    client = client_for(uri)
    resume_from, run_id = _open_run(job, config, client)
    log.info("%s: MLflow run %s in %s; %d worker(s), global batch %d", job.name, run_id, uri,
             job.world_size, job.global_batch_size)
    started = time.time()
    try:
        checkpoint_dir = run_trainer(job, config, run_id, uri, resume_from, ray_storage())
        state = load_checkpoint(checkpoint_dir, job.fingerprint())
        summary = _train_summary(job, state, run_id, started, key)
        for path in export_run(job, state, checkpoint_dir, summary).values():
            retrying(lambda: client.log_artifact(run_id, str(path)), f"{job.name}: logging {path.name}")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    retrying(lambda: client.set_terminated(run_id, "FINISHED"), f"{job.name}: closing MLflow run {run_id}")
    for scratch in (ray_storage() / job.name, resume_dir(ray_storage(), job.name)):  # finished: nothing to resume
        shutil.rmtree(scratch, ignore_errors=True)
    return summary
