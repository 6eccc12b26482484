"""Per-run caching inside the train stage (DESIGN.md, "Why the train stage fans out").

DVC reruns the train stage as a whole when any of its inputs change; inside it, a run whose **run key** is
what its folder already holds is kept, not retrained. The key hashes everything that shapes a run's
outputs: the resolved job (the family's settings, the training schedule, the in-training metric, the
worker and thread counts), the prepared data and the domain classifier it is scored with (their sha256),
and the source of the code that trains and scores it (:func:`run_code`): the pipeline and analysis files of
:data:`TRAINING_CODE`, the ``models`` modules they import, and the run's family module with every project
module it imports (a static walk, :mod:`pipeline.common.imports`). So a new family, or a change of one family,
retrains nothing of the others; a change of shared model code (``models/losses.py``) retrains every run that
imports it. A run whose key is unchanged is kept whatever else changed; a run whose key changed is trained
again (resuming from its checkpoints where they fit).

The ``train`` stage of ``dvc.yaml`` depends on all of :data:`TRAINING_CODE`, ``models`` whole included: DVC
reruns the stage when any family changes, and inside it only the runs whose key changed train again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from models.families import get_family
from pipeline.common.digest import fingerprint, source_digest, source_files
from pipeline.common.imports import module_imports, module_path, path_module, reachable
from pipeline.common.files import read_json
from pipeline.common.layout import RUN_FILES, run_dir, train_summary_file
from pipeline.training.job import TrainingJob

#: The source that shapes a training's outputs: what the ``train`` stage of dvc.yaml lists (a test checks it).
TRAINING_CODE = (
    "models", "pipeline/training", "pipeline/config", "pipeline/datasets/__init__.py", "pipeline/datasets/registry.py",
    "pipeline/data/store.py", "pipeline/data/classifier.py",
    "pipeline/common/feature_cache.py", "pipeline/scoring/registry.py", "pipeline/scoring/sampling.py",
    "pipeline/scoring/modes.py", "pipeline/scoring/classifier.py", "analysis/mode_metrics.py",
    "analysis/class_metrics.py", "analysis/frechet.py", "analysis/inception_score.py", "analysis/features.py",
    "analysis/classifier.py",
)


#: The part of :data:`TRAINING_CODE` every run's key hashes whole; the ``models`` code enters through imports.
SHARED_CODE = tuple(path for path in TRAINING_CODE if path != "models")


def _imports_within(module: str, packages: frozenset[str]) -> set[str]:
    """The modules of ``packages`` that ``module`` imports, and its parent packages (importing ``a.b.c`` runs
    ``a/__init__.py`` and ``a/b/__init__.py``)."""
    parts = module.split(".")
    names = module_imports(module) | {".".join(parts[:i]) for i in range(1, len(parts))}
    return {name for name in names if name.split(".")[0] in packages and module_path(name) is not None}


def run_code(family: str) -> tuple[str, ...]:
    """The source files a run of ``family`` hashes (see the module docstring), relative to their packages' folders:
    :data:`SHARED_CODE`, and the modules of ``models`` (and of the family module's own top-level package) that the
    shared code or the family's module imports, transitively. The walk starts at the module that defines the
    registered family's class, so the catalogue (:mod:`models.families`), which finds families at run time, pulls
    in no other family."""
    module = type(get_family(family)).__module__
    packages = frozenset({"models", module.split(".")[0]})
    shared = [path_module(path) for path in source_files(SHARED_CODE)]
    reached = reachable([module, *shared], lambda name: _imports_within(name, packages),
                        follow=lambda name: name.split(".")[0] in packages)
    imported = {module_path(name) for name in reached if name.split(".")[0] in packages}
    return tuple(sorted(set(SHARED_CODE) | imported))


def code_digest(family: str) -> str:
    """The digest of :func:`run_code` of ``family`` (what a run's key and every worker's check use)."""
    return source_digest(run_code(family))


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
