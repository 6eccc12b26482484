"""Stacked MNIST, the 1,000-mode benchmark of mode collapse (Metz et al. 2017, "Unrolled Generative Adversarial
Networks"; Srivastava et al. 2017, VEEGAN, Table 2; Lin et al. 2018, PacGAN, Tables 2-3): each RGB image is three
digit images stacked as its red, green and blue channels, so a generator has ``10³ = 1,000`` modes to cover, one per
triple of digits.

- ``stacked-mnist``: from MNIST's IDX files (read like ``mnist``: ``data.paths.mnist``, else ``data.root/mnist``);
  :data:`COUNTS` 128,000 training images as VEEGAN and PacGAN stack, and 10,000 test images.
- ``stacked-digits``: the embedded variant, from scikit-learn's digits split as ``digits`` is (``data.test_fraction``,
  seed 0); 25,000 training and 5,000 test images, which prepare in seconds and give each of the 1,000 classes of
  the domain classifier ~25 training images.

Each channel is an image drawn uniformly with replacement from the source's images (as PacGAN's
``generate_stacked_mnist`` draws MNIST images, so a digit's share follows the source's class shares), the three
independently, with :data:`SEED`; the label is the mode ``y = 100·d_R + 10·d_G + d_B`` (:data:`PLACE_VALUES`).
Training images are stacked from the source's training digits and test images from its test digits only, so no
digit image is in both splits. ``info["stacked"]`` records the source, the counts and the place values, which the
``prepare`` stage reads to train the per-channel digit classifier and the stacked-modes scorer to count modes.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from pipeline.datasets.catalogue.digits import CONDITIONAL, load_digits
from pipeline.datasets.catalogue.idx import load_idx_dataset
from pipeline.datasets.registry import Dataset, DatasetError, DataSettings, RawDataset, register_dataset

#: The mode of an image is its digits read as a number: ``y = 100·d_R + 10·d_G + d_B``.
PLACE_VALUES = (100, 10, 1)
DIGITS = 10
MODES = DIGITS ** len(PLACE_VALUES)
SEED = 0
#: Stacked images of the training and test splits.
COUNTS = {"stacked-mnist": (128_000, 10_000), "stacked-digits": (25_000, 5_000)}
BASES: dict[str, tuple[str, Callable[[DataSettings], RawDataset]]] = {
    "stacked-mnist": ("mnist", partial(load_idx_dataset, "mnist")),
    "stacked-digits": ("digits", load_digits),
}
REFERENCE = "Metz et al. 2017 (Unrolled GANs); Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN)"


def stack_digits(images: np.ndarray, labels: np.ndarray, count: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images whose channel ``c`` is the single-channel image ``images[picks[:, c]]``, ``picks`` drawn
    uniformly with replacement and independently per channel, and their modes
    ``Σ_c PLACE_VALUES[c]·labels[picks[:, c]]``."""
    picks = rng.integers(len(images), size=(count, len(PLACE_VALUES)))
    return images[:, 0][picks], labels[picks] @ np.asarray(PLACE_VALUES, dtype=np.int64)


def load_stacked(name: str, data: DataSettings) -> RawDataset:
    """The stacked images of ``name``: :data:`COUNTS` of them from the base's training and test digits."""
    base_name, load_base = BASES[name]
    try:
        base = load_base(data)
    except DatasetError as err:
        raise DatasetError(f"{name} is stacked from {base_name}, which cannot be read: {err}") from None
    n_train, n_test = COUNTS[name]
    rng = np.random.default_rng(SEED)
    train_x, train_y = stack_digits(base.train_x, base.train_y, n_train, rng)
    test_x, test_y = stack_digits(base.test_x, base.test_y, n_test, rng)
    stacked = {"channels": ["R", "G", "B"], "place_values": list(PLACE_VALUES), "digits": DIGITS, "modes": MODES,
               "n_train": n_train, "n_test": n_test, "seed": SEED,
               "source_digits": {"train": len(base.train_x), "test": len(base.test_x)}}
    info = {"source": f"{base_name} digits stacked as R, G, B ({base.info['source']}); train from its training "
                      f"digits, test from its test digits", "classes": [f"{mode:03d}" for mode in range(MODES)],
            "stacked": stacked}
    return RawDataset(name, "images", train_x, train_y, test_x, test_y, info=info)


for _name in BASES:
    register_dataset(Dataset(_name, "images", CONDITIONAL, partial(load_stacked, _name), provides=("x", "y"),
                             channels=len(PLACE_VALUES), n_classes=MODES, reference=REFERENCE))
