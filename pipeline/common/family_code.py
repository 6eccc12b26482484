"""The code a run of one family depends on (DESIGN.md, "Families and tasks": a run's key hashes only the code its
family imports): :data:`TRAINING_CODE`, the files the ``train`` stage of dvc.yaml lists, and :func:`run_code`,
the part of it a run of one family reads. Here, not in :mod:`pipeline.training`, because the train stage's run
keys, the workers' code checks and the evaluate stage's keys all use it.
"""

from __future__ import annotations

from models.families import get_family
from pipeline.common.digest import source_digest, source_files
from pipeline.common.imports import module_imports, module_path, path_module, reachable

#: The source that shapes a training's outputs: what the ``train`` stage of dvc.yaml lists (a test checks it).
TRAINING_CODE = (
    "models", "pipeline/training", "pipeline/config", "pipeline/datasets/__init__.py", "pipeline/datasets/registry.py",
    "pipeline/data/store.py", "pipeline/data/classifier.py",
    "pipeline/common/feature_cache.py", "pipeline/scoring/__init__.py", "pipeline/scoring/registry.py",
    "pipeline/scoring/conditions.py", "pipeline/scoring/sampling.py", "pipeline/scoring/scorers",
    "analysis/mode_metrics.py", "analysis/class_metrics.py", "analysis/frechet.py", "analysis/inception_score.py",
    "analysis/features.py", "analysis/classifier.py", "analysis/pixel_error.py", "analysis/ssim.py",
    "analysis/bicubic.py", "analysis/cycle.py",
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


