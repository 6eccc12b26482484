"""Wall time of the per-dataset stages (``prepare``, ``features``), kept for the report's run facts.

The time goes to its own small DVC metric (``metrics/<dataset>/<stage>.json``), not
into the stage's data outputs, whose content hashes must not change from run to run.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from pipeline.common.files import write_json
from pipeline.common.layout import stage_time_file


@contextmanager
def timed_stage(dataset: str, stage: str) -> Iterator[None]:
    """Time the block; when it succeeds write ``{"stage", "dataset", "wall_time_s"}``."""
    started = time.perf_counter()
    yield
    write_json(stage_time_file(dataset, stage),
               {"stage": stage, "dataset": dataset, "wall_time_s": round(time.perf_counter() - started, 2)})
