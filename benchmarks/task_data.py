"""The data the benchmarks measure each task on, prepared as the ``prepare`` stage prepares it, in a temporary folder.

``TASK_DATASETS`` names one bundled dataset per task (no download, seconds to prepare at 8×8): a family is timed on
the dataset of its task, a scorer on the dataset of the task it scores. :func:`prepared_datasets` runs
:func:`pipeline.data.stage.prepare` for each named dataset in a fresh temporary folder (arrays, manifest, and for
labelled images the domain classifier with its real statistics) and hands back each one loaded from there, with
absolute paths, so that the caller need not stay in that folder; the folder is removed on leaving.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from pipeline.common.layout import prepared_dir, reference_dir
from pipeline.config import Config
from pipeline.data.stage import prepare
from pipeline.data.store import PreparedData, load_prepared

#: The dataset each task is benchmarked on: the digits (8×8, labelled), their Sobel edges → digit pairs, digits ↔
#: bold digits without pairs, and bicubic ×2 downsampled digits (4×4 → 8×8).
TASK_DATASETS = {"unconditional": "digits", "class-conditional": "digits", "paired-translation": "edges2digits",
                 "unpaired-translation": "digits2bold", "super-resolution": "digits-sr2"}


@dataclass(frozen=True)
class PreparedDatasets:
    """Datasets prepared in one folder: each one's arrays and manifest, and where its domain classifier's statistics
    lie (the ``reference_dir`` argument of the scorers' ``build``)."""

    folder: Path
    data: dict[str, PreparedData]

    def reference(self, dataset: str) -> Path:
        return self.folder / reference_dir(dataset)


@contextmanager
def prepared_datasets(config: Config, datasets: Iterable[str]) -> Iterator[PreparedDatasets]:
    """Each of ``datasets`` prepared with ``config`` (its ``data`` and ``classifier`` settings) in a temporary folder
    that lasts as long as the context."""
    names = list(dict.fromkeys(datasets))
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as tmp:
        folder, here = Path(tmp), Path.cwd()
        os.chdir(folder)  # the prepare stage writes under the working directory (pipeline.common.layout)
        try:
            for dataset in names:
                prepare(config, dataset)
        finally:
            os.chdir(here)
        yield PreparedDatasets(folder, {dataset: load_prepared(dataset, folder / prepared_dir(dataset))
                                        for dataset in names})
