"""A paired translation dataset (``toy-negatives``) registered by the tests that import it: ``x`` is a random
image, ``source`` its negative (``-x``); it touches nothing outside this module."""

from __future__ import annotations

import numpy as np

from pipeline.datasets.registry import Dataset, DataSettings, RawDataset, register_dataset

N_TRAIN, N_TEST = 48, 16


def load_negatives(data: DataSettings) -> RawDataset:
    rng = np.random.default_rng(0)
    images = rng.uniform(-1.0, 1.0, size=(N_TRAIN + N_TEST, 1, data.image_size, data.image_size)).astype(np.float32)
    return RawDataset("toy-negatives", "images", images[:N_TRAIN], None, images[N_TRAIN:], None,
                      info={"source": "generated (seed 0)"}, train_source=-images[:N_TRAIN],
                      test_source=-images[N_TRAIN:])


register_dataset(Dataset("toy-negatives", "images", ("unconditional", "paired-translation"), load_negatives,
                         provides=("x", "source"), pairing="paired"))
