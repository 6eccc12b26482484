"""Where a sweep lives in the run storage (:mod:`pipeline.cluster.storage`): its Ray Tune experiment, its resume
record (which settings and which MLflow parent run it belongs to) and its scratch (fault markers, held-back metric
rows, the Ray Train runs of multi-worker trials), so that any node reaches them and a stopped sweep can be
resumed from wherever ``ganlab tune`` runs next."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pipeline.cluster.storage import StoragePath

log = logging.getLogger("ganlab.tune")


@dataclass(frozen=True)
class SweepPlace:
    """Where a sweep's Ray Tune experiment, its resume record and its scratch live."""

    folder: StoragePath  # Ray Tune's storage_path: the experiment is folder/<its name>
    path: StoragePath
    record_file: StoragePath
    scratch: StoragePath

    @classmethod
    def of(cls, storage: StoragePath, dataset: str, name: str = "tune") -> SweepPlace:
        folder = storage / "tune"
        stem = f"{'sweep' if name == 'tune' else name}-{dataset}"
        return cls(folder, folder / stem, folder / f"{stem}.json", folder / f"{stem}-scratch")

    def exists(self) -> bool:
        return self.path.exists()

    def can_restore(self) -> bool:
        from ray import tune as ray_tune

        return ray_tune.Tuner.can_restore(self.path.path, storage_filesystem=self.path.filesystem)

    def remove(self) -> None:
        for folder in (self.path, self.scratch):
            folder.rmtree()
        self.record_file.unlink()


def resumable(place: SweepPlace, sweep_id: str, restart: bool) -> dict[str, Any] | None:
    """The resume record of an unfinished sweep with the same settings, else None (stale state removed)."""
    record = json.loads(place.record_file.read_text()) if place.record_file.is_file() else None
    if record is not None and not restart and record["fingerprint"] == sweep_id and place.can_restore():
        return record
    if record is not None or place.path.exists():
        why = ("--restart" if restart else "its settings differ" if record and record["fingerprint"] != sweep_id
               else "it cannot be restored")
        log.info("not resuming the sweep at %s (%s): starting a new one", place.path.location, why)
    place.remove()
    return None


def saved_trials(place: SweepPlace) -> list[Any]:
    """The trials of the experiment state Tune saved on disk (statuses, failure counts).

    Tune saves that state before it stops the remaining trials, so after a Ctrl-C it still says which
    trials were pending or running (the in-memory statuses no longer do).
    """
    from ray.tune import ExperimentAnalysis

    return ExperimentAnalysis(place.path.path, storage_filesystem=place.path.filesystem).trials


