"""Progress of the train stage's fan-out: a bar over the runs (done / total, ETA) and one line as each run
starts and ends (with its headline metric), or fails. On a terminal the bar redraws; in CI and DVC logs the
lines are the record (``analysis.progress``). A Ray Tune callback, so Tune's own tables stay off."""

from __future__ import annotations

import logging
import time
from typing import Any

from ray.tune import Callback

from analysis.progress import progress

log = logging.getLogger("ganlab.train")


class MatrixProgress(Callback):
    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None
        self.started: dict[str, float] = {}
        self.running = 0

    def setup(self, **info: Any) -> None:
        self.bar = progress(total=self.total, description="trainings", unit="run")

    def _say(self, line: str) -> None:
        """One line per event: above the bar on a terminal, a log line in CI and DVC logs."""
        if self.bar is not None and not self.bar.disable and self.bar.dynamic_ncols:
            self.bar.write(line)
        else:
            log.info(line)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started[trial.trial_id] = time.monotonic()
        self.running += 1
        self._say(f"started {trial.config['run']} ({self.running} running, {self.bar.n}/{self.total} done)")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running -= 1
        seconds = time.monotonic() - self.started.get(trial.trial_id, time.monotonic())
        result = trial.last_result or {}
        self.bar.update(1)
        self._say(f"done {trial.config['run']} in {seconds:.0f}s: {result.get('headline', 'no result')} "
                  f"({self.bar.n}/{self.total} done)")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running -= 1
        self.bar.update(1)
        self._say(f"FAILED {trial.config['run']} ({self.bar.n}/{self.total} ended)")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.bar.close()
