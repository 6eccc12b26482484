"""``digits``: the 1,797 8×8 handwritten digits bundled with scikit-learn (UCI optdigits), labelled 0-9."""

from __future__ import annotations

import numpy as np

from pipeline.datasets.pixels import held_out, to_model_images
from pipeline.datasets.registry import Dataset, DataSettings, RawDataset, register_dataset

CONDITIONAL = ("unconditional", "class-conditional")


def digit_images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every digit as float32 (1797, 1, size, size) in [-1, 1] (pixel values 0-16 scaled), and its label."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return to_model_images(bunch.images[:, None], 16.0, size), bunch.target.astype(np.int64)


def load_digits(data: DataSettings) -> RawDataset:
    """The digits at ``data.image_size`` with a stratified held-out split of ``data.test_fraction`` (seed 0)."""
    x, y = digit_images(data.image_size)
    test = held_out(y, data.test_fraction, seed=0)
    return RawDataset("digits", "images", x[~test], y[~test], x[test], y[test],
                      info={"source": "sklearn.datasets.load_digits (bundled)", "classes": list(map(str, range(10)))})


register_dataset(Dataset("digits", "images", CONDITIONAL, load_digits, provides=("x", "y"), n_classes=10,
                         reference="UCI optdigits (Alpaydin & Kaynak 1998), bundled with scikit-learn"))
