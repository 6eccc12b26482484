"""One training run end to end, inside a Ray session, on whichever node its trial runs: open (or reopen, after an
interruption) its MLflow run, run it on Ray Train (:mod:`.ray_train`), write its outputs (:mod:`.export`) into the
run storage for the driver to collect (:mod:`.outputs`), close the run. What the fan-out's trials call
(:mod:`.matrix`)."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from pipeline.cluster.session import ClusterContext
from pipeline.cluster.storage import StoragePath
from pipeline.config import Config
from pipeline.data.shipping import DatasetFolders, ShippedDataset
from pipeline.tracking.store import client_for, retrying, start_run
from pipeline.training.checkpoint import load_checkpoint
from pipeline.training.clock import steady_rate
from pipeline.training.export import export_run
from pipeline.training.extension import extended_run
from pipeline.training.job import TrainingJob
from pipeline.training.places import RunPlaces
from pipeline.training.ray_train import checkpoint_to_resume, run_trainer

log = logging.getLogger("ganlab.train")


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """What a trial needs to train one run of the matrix (all of it sent from the driver)."""

    job: TrainingJob
    key: str  # the run key (:mod:`.run_cache`) its summary records
    cluster: ClusterContext
    data: ShippedDataset
    owner: Mapping[str, str]  # MLflow tags naming the driver process (:func:`pipeline.tracking.store.driver_tags`)
    git_commit: str


def _resume_point(request: RunRequest, client: Any, places: RunPlaces) -> tuple[tuple[StoragePath, dict] | None, str | None]:
    """Where an interrupted run of this job left off: its latest checkpoint (and state) and its MLflow run."""
    found = checkpoint_to_resume(request.job, places)
    if found is None:
        return None, None
    extends = extended_run(found[0])
    if extends is not None:  # a finished run's final checkpoint: its MLflow run records its own number of steps
        log.info("%s: going on from step %d of the finished MLflow run %s, in a new run", request.job.name,
                 found[1]["step"], extends["run_id"])
        return found, None
    run_id = _existing_run(client, found[1].get("run_id"))
    log.info("%s: resuming the interrupted run from step %d (MLflow run %s)", request.job.name, found[1]["step"],
             run_id or "new")
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
        for key, value in request.owner.items():
            client.set_tag(run_id, key, value)
    return found, run_id


def _existing_run(client: Any, run_id: str | None) -> str | None:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        return client.get_run(run_id).info.run_id
    except MlflowException:
        return None


def _open_run(request: RunRequest, config: Config, client: Any, places: RunPlaces) -> tuple[tuple[StoragePath, dict] | None, str]:
    """(the checkpoint to resume from and its state, or None; the MLflow run): the interrupted run's, else new."""
    found, run_id = _resume_point(request, client, places)
    if run_id is None:
        job = request.job
        tags = {"dataset": job.dataset, "variant": job.variant, "family": job.family, "seed": str(job.seed),
                "stage": "train", "git_commit": request.git_commit, "ganlab.fingerprint": job.fingerprint()}
        params = {**job.as_params(), "global_batch_size": job.global_batch_size, "ray": dataclasses.asdict(config.ray)}
        extends = extended_run(found[0]) if found is not None else None
        if extends is not None:
            tags["ganlab.extends"] = str(extends["run_id"])
        run_id = start_run(client, config.mlflow.experiment, job.name, params, tags, request.owner)
    return found, run_id


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


def _finished(job: TrainingJob, state: dict[str, Any]) -> bool:
    """Whether a checkpoint ends its training (all steps, or stopped by a rule): only its export is left to do."""
    return state["step"] >= job.train.steps or bool(state.get("stop_reason"))


def _export(request: RunRequest, checkpoint: StoragePath, folders: DatasetFolders, run_id: str, started: float,
            client: Any, out: Path) -> dict[str, Any]:
    """Write the run's files from its final checkpoint into ``out`` and log them to MLflow; returns the summary."""
    job = request.job
    with checkpoint.as_local() as local:
        state = load_checkpoint(local, job.fingerprint())
        summary = _train_summary(job, state, run_id, started, request.key)
        for path in export_run(job, state, local, summary, folders, out).values():
            retrying(lambda: client.log_artifact(run_id, str(path)), f"{job.name}: logging {path.name}")
    return summary


def train_job(request: RunRequest, config: Config) -> dict[str, Any]:
    """Run one training end to end (inside a Ray session); returns the summary written to ``train_summary.json``.

    The run's files reach ``places.outputs`` only once its MLflow run is closed, and its checkpoints go only after
    that: a run whose latest checkpoint already ends its training (it failed while exporting, or while closing its
    MLflow run) is not trained again, only exported."""
    job, places = request.job, RunPlaces(request.cluster.storage, request.job.name)
    client = client_for(request.cluster.tracking_uri)
    with request.data.folders() as folders, tempfile.TemporaryDirectory(prefix=f"ganlab-{job.name}-") as out:
        found, run_id = _open_run(request, config, client, places)
        log.info("%s: MLflow run %s in %s; %d worker(s), global batch %d", job.name, run_id,
                 request.cluster.tracking_uri, job.world_size, job.global_batch_size)
        started = time.time()
        try:
            if found is not None and _finished(job, found[1]):
                log.info("%s: its checkpoint at step %d ends the training: exporting it", job.name, found[1]["step"])
                checkpoint = found[0]
            else:
                checkpoint = run_trainer(job, config, run_id, request.cluster, request.data, places,
                                         found[0] if found else None)
            summary = _export(request, checkpoint, folders, run_id, started, client, Path(out))
        except BaseException:
            client.set_terminated(run_id, "FAILED")
            raise
        retrying(lambda: client.set_terminated(run_id, "FINISHED"), f"{job.name}: closing MLflow run {run_id}")
        places.outputs.upload(Path(out))
    places.clear()  # its outputs are on their way: nothing to resume
    return summary
