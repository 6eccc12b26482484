"""Unpaired translation data: ``digits2mnist``, scikit-learn's digits (domain A, ``source``) ↔ MNIST (domain B,
``x``) -- two collections of the same ten digits by different writers, scanned at different resolutions (8 × 8
with 17 grey levels, upsampled bilinearly to ``data.image_size``; 28 × 28, resized with antialiasing) and with
different strokes, and no pairs between them: the setting of CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image
Translation using Cycle-Consistent Adversarial Networks", Sec. 3), as its domain pairs (horses ↔ zebras) are.

Domain A keeps the split of ``digits`` (a stratified ``data.test_fraction`` held out, seed 0), domain B the
official split of MNIST (60,000 / 10,000). Each split of each domain is shuffled on its own with :data:`SEED`, so
no row of ``x`` belongs to a row of ``source`` and the domains keep their own sizes. The labels are kept for scoring
only (label preservation under the domain classifier): ``y`` for ``x``, ``source_y`` for ``source``. MNIST's IDX
files are read from ``data.paths.mnist`` (else ``data.root/mnist``); without them the dataset fails naming the
missing file, the folder and the key, and downloads nothing.
"""

from __future__ import annotations

import numpy as np

from pipeline.datasets.bases import read_base
from pipeline.datasets.catalogue.digits import CONDITIONAL
from pipeline.datasets.registry import Dataset, DataSettings, RawDataset, register_dataset

NAME = "digits2mnist"
SEED = 0


def shuffled(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``images`` and ``labels`` in one random order drawn from ``rng``."""
    order = rng.permutation(len(images))
    return images[order], labels[order]


def load_digits_mnist(data: DataSettings) -> RawDataset:
    """Domain A = scikit-learn's digits, domain B = MNIST, each split shuffled on its own (see the module docstring)."""
    digits, mnist = read_base(NAME, "digits", data), read_base(NAME, "mnist", data)
    rng = np.random.default_rng(SEED)
    train_a, test_a = shuffled(digits.train_x, digits.train_y, rng), shuffled(digits.test_x, digits.test_y, rng)
    train_b, test_b = shuffled(mnist.train_x, mnist.train_y, rng), shuffled(mnist.test_x, mnist.test_y, rng)
    info = {"source": f"A = scikit-learn's digits ({digits.info['source']}), B = MNIST ({mnist.info['source']}); "
                      f"each split shuffled on its own (seed {SEED})",
            "classes": list(map(str, range(10))), "domains": {"source": "digits (scikit-learn)", "x": "MNIST"}}
    return RawDataset(NAME, "images", *train_b, *test_b, info=info, train_source=train_a[0], test_source=test_a[0],
                      train_source_y=train_a[1], test_source_y=test_a[1])


register_dataset(Dataset(NAME, "images", CONDITIONAL + ("unpaired-translation",), load_digits_mnist,
                         provides=("x", "y", "source", "source_y"), pairing="unpaired", n_classes=10,
                         reference="unpaired domains as CycleGAN's (Zhu et al. 2017): scikit-learn's digits ↔ MNIST"))
