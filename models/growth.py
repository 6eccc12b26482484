"""The growing schedule of Karras et al. (2018), "Progressive Growing of GANs", Sec. 2 and Appendix A.1: G and D start
at 4×4 and add one block per doubling of the side; each new block is faded in (its weight α going linearly from 0
to 1) over ``fade_images`` real images, then trained alone for ``stable_images`` (the paper: 800k and 800k), until
the data's side is reached, where training stays.

The schedule is a pure function of the real images seen (:attr:`models.progress.Progress.images`, the reference
code's ``cur_nimg``; tkarras/progressive_growing_of_gans ``train.py``, ``TrainingSchedule``), so a run resumed from
a checkpoint continues at the same phase and α as one that was never stopped.

**Levels and phases.** Level ℓ is the side ``4·2^ℓ`` (0: 4×4, ``levels``: the data's side). Phases are numbered in
order: phase 0 stabilises 4×4; phase ``2ℓ − 1`` fades level ℓ in and phase ``2ℓ`` stabilises it; the last phase,
``2·levels``, lasts to the end of the run. With ``S = stable_images`` and ``F = fade_images``, the images ``n``
fall in period ``k = ⌊n / (S + F)⌋`` at offset ``o = n − k(S + F)``: while ``k < levels``, ``o < S`` is phase
``2k`` (level k, α = 1) and ``o ≥ S`` is phase ``2k + 1`` (level k + 1, ``α = (o − S) / F``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The side of level 0.
BASE_SIDE = 4


@dataclass(frozen=True)
class GrowthState:
    """Where growing stands: the phase, the highest level in the networks and its new block's weight α."""

    phase: int
    level: int
    alpha: float

    @property
    def side(self) -> int:
        """The side of the images G makes and D judges at this level."""
        return BASE_SIDE * 2 ** self.level

    @property
    def fading(self) -> bool:
        return self.alpha < 1.0


@dataclass(frozen=True)
class GrowthSchedule:
    """``levels`` doublings after 4×4, each faded in over ``fade_images`` and stabilised for ``stable_images``."""

    levels: int
    fade_images: int
    stable_images: int

    def __post_init__(self) -> None:
        if self.levels < 0 or self.fade_images < 1 or self.stable_images < 0:
            raise ValueError(f"a growth schedule needs levels >= 0, fade_images >= 1 and stable_images >= 0, got {self}")

    @property
    def final_phase(self) -> int:
        return 2 * self.levels

    @property
    def images_to_final_side(self) -> int:
        """The real images seen when the data's side is fully faded in (the last phase begins)."""
        return self.levels * (self.stable_images + self.fade_images)

    def at(self, images: int) -> GrowthState:
        """The state after ``images`` real images (see the module docstring)."""
        period, offset = divmod(images, self.stable_images + self.fade_images)
        if period >= self.levels:
            return GrowthState(self.final_phase, self.levels, 1.0)
        if offset < self.stable_images:
            return GrowthState(2 * period, period, 1.0)
        return GrowthState(2 * period + 1, period + 1, (offset - self.stable_images) / self.fade_images)
