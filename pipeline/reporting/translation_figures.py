"""The report's figure of a translation or super-resolution run: held-out inputs, what the final main sampler makes
of them and their targets, one row each (pix2pix's figures, Isola et al. 2017: input, output, ground truth; SRGAN's
Fig. 2, Ledig et al. 2017: the low-resolution input, its super-resolution and the original); for an unpaired
translation, whose inputs have no target, the input A, its translation A→B and, where the family has a B→A sampler,
the round trip A→B→A (CycleGAN's Fig. 3, Zhu et al. 2017: what the cycle loss of Eq. 2 keeps).

The inputs are the first :data:`COLUMNS` sources of the prepared test split, the ones the evaluate stage scores
first (:mod:`pipeline.scoring.conditions`), drawn with the evaluation's seed: the figure shows outputs that the
tables measure. Low-resolution inputs are shown enlarged by pixel repetition (nearest neighbour), grey images beside
colour ones as three equal channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from models.illustration import Illustration
from pipeline.data.store import PreparedData
from pipeline.scoring.sampling import EVAL_SEED, load_sampler

TRANSLATION_TASKS = ("paired-translation", "unpaired-translation", "super-resolution")
#: Held-out inputs across the figure.
COLUMNS = 8


def as_shown(images: np.ndarray, channels: int, side: int) -> np.ndarray:
    """(N, C, h, w) images in [-1, 1] with ``channels`` channels (a grey image repeated) and enlarged to ``side`` by
    pixel repetition (``side`` a multiple of h)."""
    if images.shape[1] != channels:
        images = np.repeat(images, channels, axis=1)
    factor = side // images.shape[-1]
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1) if factor > 1 else images


def translation_figure(generators: dict[str, Any], prepared: PreparedData) -> Illustration | None:
    """The rows of the module docstring for the run of ``generators`` on its ``prepared`` data; None for a family
    of another task."""
    sampler = load_sampler(generators, "final")
    family = sampler.family
    if family.task not in TRANSLATION_TASKS:
        return None
    sources = prepared.test_source[:COLUMNS]
    outputs = sampler.draw(len(sources), EVAL_SEED, conditions={"source": sources})
    if family.task == "unpaired-translation":
        rows, labels = [sources, outputs], ["A (input)", "A→B"]
        reverse = next((spec.name for spec in family.samplers if spec.reverse), None)
        if reverse is not None:
            rows.append(load_sampler(generators, "final", reverse).draw(len(outputs), EVAL_SEED,
                                                                        conditions={"source": outputs}))
            labels.append("A→B→A")
        title = "Unpaired translation of held-out inputs: A, A→B" + (", A→B→A" if reverse else "")
    else:
        rows, labels = [sources, outputs, prepared.test_x[: len(sources)]], ["input", "output", "target"]
        title = "Held-out inputs, outputs and targets"
    channels, side = max(row.shape[1] for row in rows), max(row.shape[-1] for row in rows)
    images = np.stack([as_shown(np.asarray(row, dtype=np.float32), channels, side) for row in rows])
    return Illustration("translation", title, torch.as_tensor(images), tuple(labels),
                        tuple(f"test {i}" for i in range(len(sources))))
