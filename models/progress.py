"""Where a training stands, as a family's step sees it: growing schedules (phases, fade-in α), pre-training
phases, lazy regularisers every N steps and EMA start steps read it instead of keeping counters of their own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """``step``: generator updates done before this step (0 at the first); ``total``: ``train.steps``;
    ``images``: real images seen so far over all workers (StyleGAN's ``cur_nimg``, Karras et al. 2018, 2019)."""

    step: int
    total: int
    images: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.step and 0 < self.total and 0 <= self.images:
            raise ValueError(f"progress needs 0 <= step, 0 < total and 0 <= images, got {self}")

    @property
    def fraction(self) -> float:
        """The share of the run done, ``step / total``."""
        return self.step / self.total

    def every(self, interval: int) -> bool:
        """Whether this step is one of every ``interval`` (steps 0, N, 2N, ...: a lazy regulariser's steps,
        StyleGAN2's ``R1 every 16``, Karras et al. 2020, Sec. 3.1)."""
        return self.step % interval == 0
