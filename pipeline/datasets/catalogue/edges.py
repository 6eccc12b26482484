"""Paired translation data, edges → digit: ``edges2digits`` (scikit-learn's digits), ``edges2mnist`` and
``edges2fashion-mnist`` (the IDX files of ``mnist`` / ``fashion-mnist``, read from their own folders).

``x`` is each image at ``data.image_size`` with its label ``y``; ``source`` is its Sobel edge map
(:func:`pipeline.datasets.pixels.sobel_edges`), row i of ``source`` belonging to row i of ``x``. The
construction follows pix2pix's edges2shoes (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks": edges computed from the photographs, the model learns edges → photo); nothing is
downloaded, and a base whose files are absent fails naming the files and the folder they belong in.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from pipeline.datasets.catalogue.digits import CONDITIONAL, load_digits
from pipeline.datasets.catalogue.idx import load_idx_dataset
from pipeline.datasets.pixels import sobel_edges
from pipeline.datasets.registry import Dataset, DatasetError, DataSettings, RawDataset, register_dataset

BASES: dict[str, tuple[str, Callable[[DataSettings], RawDataset]]] = {
    "edges2digits": ("digits", load_digits),
    "edges2mnist": ("mnist", partial(load_idx_dataset, "mnist")),
    "edges2fashion-mnist": ("fashion-mnist", partial(load_idx_dataset, "fashion-mnist")),
}


def load_edges(name: str, data: DataSettings) -> RawDataset:
    """The base dataset of ``name`` with the edge map of every image as its ``source``."""
    base_name, load_base = BASES[name]
    try:
        base = load_base(data)
    except DatasetError as err:
        raise DatasetError(f"{name} is made from {base_name}, which cannot be read: {err}") from None
    info = {**base.info, "source": f"Sobel edges of {base_name} ({base.info['source']})"}
    return RawDataset(name, "images", base.train_x, base.train_y, base.test_x, base.test_y, info=info,
                      train_source=sobel_edges(base.train_x), test_source=sobel_edges(base.test_x))


for _name in BASES:
    register_dataset(Dataset(_name, "images", CONDITIONAL + ("paired-translation",), partial(load_edges, _name),
                             provides=("x", "y", "source"), pairing="paired", n_classes=10,
                             reference="edges → image as pix2pix's edges2shoes (Isola et al. 2017)"))
