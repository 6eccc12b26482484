"""The git commit a result was produced at, as reports and MLflow tags name it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline.common.layout import PIPELINE_OUTPUTS


def git_commit(project: Path | None = None) -> str:
    """The checked-out commit, with ``-dirty`` when source files differ from it, or ``unknown``.

    Files the pipeline itself writes (``dvc.lock``, metrics, reports, sweep
    outputs: :data:`pipeline.common.layout.PIPELINE_OUTPUTS`) do not count: a
    ``dvc repro`` rewrites them before the report stage asks.
    """
    cwd = str(project or Path.cwd())
    excluded = [f":(exclude){path}" for path in PIPELINE_OUTPUTS]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *excluded], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")
