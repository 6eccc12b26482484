"""The fan-out's queue of runs: Tune starts the next run only when the cluster, as it is now, holds one more.

Tune is the fan-out's scheduler (:mod:`pipeline.training.matrix`), and this searcher feeds it the matrix's run names
in order. A trial drives a Ray Train run whose workers take the resources, so Tune itself cannot see what a run
needs; a fixed ``max_concurrent_trials`` counted once at the start would neither follow a cluster that the
autoscaler grows nor count GPUs, and every trial started beyond what fits would hold an open MLflow run while its
workers queue. Here the count is taken again at each suggestion (:meth:`RunDemand.runs_that_fit` of the cluster's
totals, at least one), so a run starts as soon as one more fits.
"""

from __future__ import annotations

from typing import Callable

from ray.tune.search import Searcher


class RunQueue(Searcher):
    """Suggests ``{"run": name}`` for each of ``names`` in order while fewer than ``room()`` of them run."""

    def __init__(self, names: list[str], room: Callable[[], int]) -> None:
        super().__init__()
        self._waiting = list(names)
        self._room = room
        self._running: set[str] = set()

    def suggest(self, trial_id: str) -> dict[str, str] | str | None:
        if not self._waiting:
            return Searcher.FINISHED
        if len(self._running) >= max(1, self._room()):
            return None
        self._running.add(trial_id)
        return {"run": self._waiting.pop(0)}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self._running.discard(trial_id)
