"""Per-run caching inside the train stage (DESIGN.md, "Why the train stage fans out").

DVC reruns the train stage as a whole when any of its inputs change; inside it, a run whose **run key** is
what its folder already holds is kept, not retrained. The key hashes everything that shapes a run's
outputs: the resolved job (the family's settings, the training schedule, the in-training metric, the
worker and thread counts, the device), the prepared data and the domain classifier it is scored with (their sha256),
and the source of the code that trains and scores it (:func:`pipeline.common.family_code.run_code`): the
pipeline and analysis files of ``TRAINING_CODE``, the ``models`` modules they import, and the run's family module
with every project module it imports (a static walk, :mod:`pipeline.common.imports`). So a new family, or a change of one family,
retrains nothing of the others; a change of shared model code (``models/losses.py``) retrains every run that
imports it. A run whose key is unchanged is kept whatever else changed; a run whose key changed is trained
again (resuming from its checkpoints where they fit).

The ``train`` stage of ``dvc.yaml`` depends on all of ``TRAINING_CODE``, ``models`` whole included: DVC
reruns the stage when any family changes, and inside it only the runs whose key changed train again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.common.digest import fingerprint
from pipeline.common.files import read_json
from pipeline.common.layout import RUN_FILES, run_dir, train_summary_file
from pipeline.training.job import TrainingJob

def data_digest(manifest: dict[str, Any]) -> str:
    """The prepared training split and the domain classifier a run trains on and is scored with."""
    return fingerprint({"train": manifest["splits"]["train"]["sha256"],
                        "classifier": manifest.get("classifier", {}).get("sha256")})


def run_key(job: TrainingJob, manifest: dict[str, Any], code: str) -> str:
    return fingerprint({"job": dataclasses.asdict(job), "data": data_digest(manifest), "code": code})


def kept(job: TrainingJob, key: str) -> dict[str, Any] | None:
    """The summary of the finished run of ``job`` in ``runs/…`` when it was made under ``key`` (else None)."""
    summary_file = train_summary_file(job.dataset, job.variant, job.seed)
    if not all((run_dir(job.dataset, job.variant, job.seed) / name).is_file() for name in RUN_FILES):
        return None
    try:
        summary = read_json(summary_file, "training summary", "")
    except ValueError:
        return None
    return summary if summary.get("run_key") == key else None
