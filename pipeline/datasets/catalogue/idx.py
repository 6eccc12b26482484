"""``mnist`` and ``fashion-mnist`` from their standard IDX files (LeCun et al. 1998; Xiao et al. 2017), read by
torchvision offline from ``data.paths.<dataset>`` (default ``data.root/<dataset>``)."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from pipeline.datasets.catalogue.digits import CONDITIONAL
from pipeline.datasets.pixels import to_model_images
from pipeline.datasets.registry import Dataset, DataSettings, RawDataset, register_dataset
from pipeline.datasets.standard_files import download_files, read_torchvision_pair, stage_idx_files

REFERENCES = {"mnist": "LeCun et al. 1998 (MNIST)", "fashion-mnist": "Xiao et al. 2017 (Fashion-MNIST)"}


def load_idx_dataset(name: str, data: DataSettings) -> RawDataset:
    """MNIST or Fashion-MNIST from their standard IDX files, read by torchvision."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]
    folder = data.folder(name)
    if data.download:
        download_files(cls, folder)
    with tempfile.TemporaryDirectory(prefix="ganlab-idx-") as tmp:
        train, test = read_torchvision_pair(cls, stage_idx_files(folder, cls.__name__, Path(tmp)), folder)
        size = data.image_size
        return RawDataset(
            name, "images",
            to_model_images(train.data.numpy()[:, None], 255.0, size), train.targets.numpy().astype(np.int64),
            to_model_images(test.data.numpy()[:, None], 255.0, size), test.targets.numpy().astype(np.int64),
            info={"source": str(folder), "classes": list(train.classes)},
        )


for _name, _reference in REFERENCES.items():
    register_dataset(Dataset(_name, "images", CONDITIONAL, partial(load_idx_dataset, _name), provides=("x", "y"),
                             n_classes=10, reference=_reference))
