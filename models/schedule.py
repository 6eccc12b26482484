"""Learning-rate schedules over a training's generator steps.

``linear``: the learning rate stays as set for the first ``start`` share of the steps, then falls linearly to
zero at the end -- CycleGAN's schedule (Zhu et al. 2017, Sec. 4: "the same learning rate for the first 100
epochs, then linearly decay the rate to zero over the next 100 epochs"), used by pix2pixHD and SNGAN's code
too. A GAN explores at the full rate and then sharpens instead of oscillating around the data.

The factor depends on the step alone, so a resumed run follows the same schedule as one that never stopped.
"""

from __future__ import annotations

SCHEDULES = ("none", "linear")


def lr_factor(schedule: str, step: int, steps: int, start: float) -> float:
    """The multiplier of every learning rate for update ``step`` (0-based) of ``steps``.

    ``linear``: 1 while ``step < start·steps``; then ``(steps − step) / (steps − start·steps)``, which reaches
    ``1 / (steps − start·steps)`` at the last update (zero just after it).
    """
    if schedule == "none":
        return 1.0
    if schedule != "linear":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if not 0.0 <= start < 1.0:
        raise ValueError(f"the decay must start within the training (0 <= start < 1), got {start}")
    begin = start * steps
    return 1.0 if step < begin else (steps - step) / (steps - begin)
