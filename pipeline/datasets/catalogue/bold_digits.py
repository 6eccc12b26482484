"""Unpaired translation data: ``digits2bold``, scikit-learn's digits (domain A, ``source``) ↔ bold digits
(domain B, ``x``), the setting of CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks"): two collections and no pairs between them.

The 1,797 digits are split per class with a fixed seed: :data:`SOURCE_SHARE` of each class goes to domain A as
they are, the other images to domain B, restyled consistently by a grey dilation of ``1 + image_size // 8``
pixels (:func:`pipeline.datasets.pixels.dilate`: strokes ``image_size // 8`` pixels bolder). No digit is in
both domains, the domains have different sizes, and each is shuffled on its own, so no row of ``x`` belongs to a
row of ``source``. Each domain has its own stratified held-out split. The labels are kept for scoring only
(label preservation under the domain classifier): ``y`` for ``x``, ``source_y`` for ``source``.
"""

from __future__ import annotations

import numpy as np

from pipeline.datasets.catalogue.digits import CONDITIONAL, digit_images
from pipeline.datasets.pixels import dilate, held_out
from pipeline.datasets.registry import Dataset, DataSettings, RawDataset, register_dataset

#: Share of each class in domain A (``source``); the rest, restyled, is domain B (``x``).
SOURCE_SHARE = 0.55
SEED = 0


def stroke_width(image_size: int) -> int:
    """The dilation window of domain B at ``image_size`` (2 at 8×8, 3 at 16×16, 5 at 32×32)."""
    return 1 + image_size // 8


def partition(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of domain A (``round(share × n)`` of each class) and of domain B (the others), each shuffled."""
    rng = np.random.default_rng(seed)
    in_a = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        in_a[members[: round(share * len(members))]] = True
    return rng.permutation(np.flatnonzero(in_a)), rng.permutation(np.flatnonzero(~in_a))


def load_bold_digits(data: DataSettings) -> RawDataset:
    """Domain A = digits, domain B = bold digits of the other images; train/test split within each domain."""
    images, labels = digit_images(data.image_size)
    a, b = partition(labels, SOURCE_SHARE, SEED)
    bold = dilate(images[b], stroke_width(data.image_size))
    test_a = held_out(labels[a], data.test_fraction, seed=SEED + 1)
    test_b = held_out(labels[b], data.test_fraction, seed=SEED + 2)
    info = {"source": "sklearn.datasets.load_digits (bundled): A = digits, B = other digits dilated "
                      f"{stroke_width(data.image_size)}×{stroke_width(data.image_size)}",
            "classes": list(map(str, range(10))), "domains": {"source": "digits", "x": "bold digits"}}
    return RawDataset("digits2bold", "images", bold[~test_b], labels[b][~test_b], bold[test_b], labels[b][test_b],
                      info=info, train_source=images[a][~test_a], test_source=images[a][test_a],
                      train_source_y=labels[a][~test_a], test_source_y=labels[a][test_a])


register_dataset(Dataset("digits2bold", "images", CONDITIONAL + ("unpaired-translation",), load_bold_digits,
                         provides=("x", "y", "source", "source_y"), pairing="unpaired", n_classes=10,
                         reference="unpaired domains as CycleGAN's (Zhu et al. 2017)"))
