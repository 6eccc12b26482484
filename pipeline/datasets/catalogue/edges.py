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

from pipeline.datasets.bases import read_base
from pipeline.datasets.catalogue.digits import CONDITIONAL
from pipeline.datasets.pixels import sobel_edges
from pipeline.datasets.registry import Dataset, DataSettings, RawDataset, register_dataset

#: Each dataset and the base (:data:`pipeline.datasets.bases.IMAGE_BASES`) it is made from.
BASES = {"edges2digits": "digits", "edges2mnist": "mnist", "edges2fashion-mnist": "fashion-mnist"}


def load_edges(name: str, data: DataSettings) -> RawDataset:
    """The base dataset of ``name`` with the edge map of every image as its ``source``."""
    base = read_base(name, BASES[name], data)
    info = {**base.info, "source": f"Sobel edges of {BASES[name]} ({base.info['source']})"}
    return RawDataset(name, "images", base.train_x, base.train_y, base.test_x, base.test_y, info=info,
                      train_source=sobel_edges(base.train_x), test_source=sobel_edges(base.test_x))


for _name in BASES:
    register_dataset(Dataset(_name, "images", CONDITIONAL + ("paired-translation",), partial(load_edges, _name),
                             provides=("x", "y", "source"), pairing="paired", n_classes=10,
                             reference="edges → image as pix2pix's edges2shoes (Isola et al. 2017)"))
