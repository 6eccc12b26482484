"""The driver's side of a finished run's files: they arrive through the run storage (``outputs/<run>/``, written by
the trial on whichever node trained the run) and are moved into ``runs/<dataset>/<variant>/seed<k>/``, so the
driver's ``runs/`` holds what a local run would have left, file for file.

A run's files are collected only when its summary records the run key the driver expects
(:mod:`pipeline.training.run_cache`), and only whole: the folder is downloaded beside its place and then moved
in. Files a stopped stage left in the storage are collected by the next one instead of training the run again.
"""

from __future__ import annotations

import json
import logging
import shutil
from typing import Any

from pipeline.cluster.failures import full_disk
from pipeline.cluster.storage import StorageError, StoragePath
from pipeline.common.layout import RUN_FILES, RUNS, SUMMARY, run_dir
from pipeline.training.job import TrainingJob
from pipeline.training.places import RunPlaces

log = logging.getLogger("ganlab.train")


def waiting_summary(job: TrainingJob, key: str, storage: StoragePath) -> dict[str, Any] | None:
    """The summary of ``job``'s files waiting in the storage, when they were made under ``key`` (else None)."""
    summary_file = RunPlaces(storage, job.name).outputs / SUMMARY
    if not summary_file.is_file():
        return None
    try:
        summary = json.loads(summary_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        log.warning("%s: %s is unreadable; the run is trained again", job.name, summary_file.location)
        return None
    return summary if summary.get("run_key") == key else None


def collect(job: TrainingJob, key: str, storage: StoragePath) -> dict[str, Any] | None:
    """Move ``job``'s files from the storage into its run folder; returns their summary (None: none waiting)."""
    summary = waiting_summary(job, key, storage)
    if summary is None:
        return None
    source = RunPlaces(storage, job.name).outputs
    target = run_dir(job.dataset, job.variant, job.seed)
    incoming = target.with_name(f".{target.name}.incoming")
    shutil.rmtree(incoming, ignore_errors=True)
    try:
        source.download(incoming)
    except StorageError as err:  # the old run folder stays; the files stay in the storage for the next call
        full = full_disk(err, [RUNS.absolute()])
        if full is None:
            raise
        raise StorageError(full) from err
    missing = [name for name in RUN_FILES if not (incoming / name).is_file()]
    if missing:
        shutil.rmtree(incoming, ignore_errors=True)
        log.warning("%s: %s lacks %s; the run is trained again", job.name, source.location, ", ".join(missing))
        return None
    shutil.rmtree(target, ignore_errors=True)
    incoming.rename(target)
    source.rmtree()
    return summary
