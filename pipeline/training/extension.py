"""Extending a finished run: more ``train.steps`` for a run whose settings are otherwise unchanged.

A run's fingerprint leaves the number of steps out unless a learning-rate decay ties the rates to it
(:meth:`pipeline.training.job.TrainingJob.shaping_settings`), so a finished run's final checkpoint
(``runs/<dataset>/<variant>/seed<k>/model/state.pt``) can go on where it stopped. The driver stages that checkpoint
in the run storage (``resume/<run>``, where an interrupted run's latest checkpoint waits) with a note that it
extends a finished run: the training resumes from it, in a new MLflow run tagged with the one it extends (the
finished run's params record its own number of steps).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pipeline.cluster.storage import StoragePath
from pipeline.common.layout import model_dir
from pipeline.training.checkpoint import CheckpointMismatchError, load_checkpoint
from pipeline.training.job import TrainingJob
from pipeline.training.places import RunPlaces
from pipeline.training.ray_train import find_resumable

log = logging.getLogger("ganlab.train")

#: Beside a staged checkpoint: the MLflow run and the step of the finished run it extends.
EXTENDS_FILE = "extends.json"


def _finished_state(job: TrainingJob) -> dict[str, Any] | None:
    """The final checkpoint of this run's previous outputs, when it can go on to ``job.train.steps``."""
    folder = model_dir(job.dataset, job.variant, job.seed)
    try:
        state = load_checkpoint(folder, job.fingerprint())
    except (FileNotFoundError, CheckpointMismatchError):
        return None
    if state["step"] >= job.train.steps or state.get("stop_reason") or state.get("diverged_at") is not None:
        return None
    return state


def stage_extensions(jobs: list[TrainingJob], storage: StoragePath) -> list[str]:
    """Stage the final checkpoint of every finished run that ``jobs`` extend (and that left nothing to resume)
    for its training to go on from; returns their names."""
    staged = []
    for job in jobs:
        places = RunPlaces(storage, job.name)
        state = _finished_state(job)
        if state is None or find_resumable(job, places) is not None:
            continue
        places.resume.upload(model_dir(job.dataset, job.variant, job.seed))
        (places.resume / EXTENDS_FILE).write_text(json.dumps({"run_id": state.get("run_id"), "step": state["step"]}))
        log.info("%s: extending the finished run from step %d to %d", job.name, state["step"], job.train.steps)
        staged.append(job.name)
    return staged


def extended_run(checkpoint: StoragePath) -> dict[str, Any] | None:
    """What a staged checkpoint extends (``{"run_id", "step"}``), or None for an interrupted run's own."""
    note = checkpoint / EXTENDS_FILE
    return json.loads(note.read_text()) if note.is_file() else None
