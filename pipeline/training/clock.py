"""A training's clock: wall time and training rate, with the in-training metric and checkpoints (side work)
kept out of steps/s."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    """Wall time of a run, with the in-training metric and checkpoints (side work) kept out of steps/s."""

    started: float = field(default_factory=time.perf_counter)
    window_started: float = field(default_factory=time.perf_counter)
    window_step: int = 0
    side_work: float = 0.0

    def window_rate(self, step: int, now: float) -> float:
        return (step - self.window_step) / max(now - self.window_started, 1e-9)

    def new_window(self, step: int) -> None:
        self.window_step, self.window_started = step, time.perf_counter()

    def add_side_work(self, seconds: float, in_window: bool = False) -> None:
        self.side_work += seconds
        if in_window:
            self.window_started += seconds


def steady_rate(history: list[dict[str, float]]) -> float | None:
    """Steps/s over every logged window but the first (warm-up), i.e. total steps / total time.

    Each history row carries its window's rate (``steps_per_s``, the
    in-training metric and checkpoints left out); without a second window the
    first one is used.
    """
    windows = [(row["step"] - previous, row["steps_per_s"])
               for previous, row in zip([0] + [r["step"] for r in history], history)]
    windows = windows[1:] or windows
    seconds = sum(steps / rate for steps, rate in windows if rate > 0)
    return sum(steps for steps, _ in windows) / seconds if seconds > 0 else None
