"""A progress bar of a Ray Train run's steps, drawn by the driver on its own terminal.

Rank 0 writes its step count to a small file in the run's storage folder (shared
by every node of a cluster, as Ray Train's checkpoints require) at most once per
``interval_s``; the driver follows that file while ``TorchTrainer.fit`` blocks and
updates a ``tqdm`` bar (``analysis.progress``). Log lines that Ray forwards from
the workers cannot move a bar drawn by the driver, so the bar lives where the
person running ``ganlab train`` looks.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from analysis.progress import progress


class StepFile:
    """The worker side: ``step_file(step)`` after every step; writes at most once per ``interval_s``, and the last step."""

    def __init__(self, path: Path, total: int, interval_s: float = 1.0) -> None:
        self.path, self.total, self.interval_s = path, total, interval_s
        self.written_at = -math.inf

    def __call__(self, step: int) -> None:
        now = time.monotonic()
        if now - self.written_at >= self.interval_s or step == self.total:
            self.path.write_text(str(step))
            self.written_at = now


def _read_step(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):  # not written yet, or caught mid-write
        return 0


@contextmanager
def follow_steps(path: Path, total: int, description: str) -> Iterator[None]:
    """Show a bar over ``total`` steps that follows ``path`` until the block ends (then ``path`` is removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    stop = threading.Event()

    def watch() -> None:
        with progress(total, description, unit="step") as bar:
            finished = False
            while not finished:
                finished = stop.wait(0.5)
                step = _read_step(path)
                if step > bar.n:
                    bar.update(step - bar.n)

    thread = threading.Thread(target=watch, name="ganlab-step-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        path.unlink(missing_ok=True)
