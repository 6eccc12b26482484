"""The sweep's progress bar: a Ray Tune callback over trials ended, trial-steps trained and the best objective."""

from __future__ import annotations

import math
from typing import Any

from ray.tune import Callback

from analysis.progress import progress


class SweepProgress(Callback):
    """A bar over the sweep's trials (Ray Tune callback): trials ended, trial-steps trained, best objective.

    On a terminal it redraws; in CI and DVC logs it prints a line every
    ``GANLAB_PROGRESS_INTERVAL`` seconds (``analysis.progress``). Created in
    :meth:`setup`, so a restored sweep gets a new bar.
    """

    def __init__(self, metric: str, mode: str) -> None:
        self.metric, self.mode = metric, mode
        self.bar: Any = None
        self.steps: dict[str, int] = {}
        self.best: float | None = None

    def setup(self, total_num_samples: int | None = None, **info: Any) -> None:
        self.bar = progress(total=total_num_samples or 0, description="sweep", unit="trial")

    def on_trial_result(self, trial: Any, result: dict[str, Any], **info: Any) -> None:
        self.steps[trial.trial_id] = int(result.get("step", 0))
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            self.best = value if better else self.best
        self._describe()

    def on_trial_complete(self, trial: Any, **info: Any) -> None:
        self.bar.update(1)
        self._describe()

    on_trial_error = on_trial_complete

    def on_experiment_end(self, **info: Any) -> None:
        self.bar.close()

    def _describe(self) -> None:
        best = "n/a" if self.best is None else f"{self.best:.4g}"
        self.bar.set_postfix_str(f"{sum(self.steps.values())} trial-steps, best {self.metric} {best}", refresh=False)
