"""``cifar10``: CIFAR-10 (Krizhevsky 2009) from its python batches (``cifar-10-batches-py/``), read by torchvision."""

from __future__ import annotations

import numpy as np

from pipeline.datasets.catalogue.digits import CONDITIONAL
from pipeline.datasets.pixels import to_model_images
from pipeline.datasets.registry import Dataset, DatasetError, DataSettings, RawDataset, register_dataset
from pipeline.datasets.standard_files import download_files, read_torchvision_pair


def _local_cifar10() -> type:
    from torchvision.datasets import CIFAR10

    class LocalCIFAR10(CIFAR10):
        """torchvision's CIFAR-10 reader without its md5 check of the official archive.

        Integrity of what ganlab uses is recorded instead by the sha256 in the
        prepared manifest, so re-packed or test-written batches load too.
        """

        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return LocalCIFAR10


def load_cifar10(data: DataSettings) -> RawDataset:
    """CIFAR-10 from the python batches (``cifar-10-batches-py/``), read by torchvision."""
    from torchvision.datasets import CIFAR10

    folder = data.folder("cifar10")
    if data.download:
        download_files(CIFAR10, folder)
    batches = folder / CIFAR10.base_folder
    expected = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    missing = [name for name in expected if not (batches / name).is_file()]
    if missing:
        raise DatasetError(
            f"CIFAR-10 file(s) {', '.join(missing)} not found in {batches}. Extract the python version of "
            f"CIFAR-10 (cifar-10-python.tar.gz) into {folder}, set data.paths.cifar10, or set data.download: true where a network exists."
        )
    train, test = read_torchvision_pair(_local_cifar10(), folder)
    size = data.image_size
    return RawDataset(
        "cifar10", "images",
        to_model_images(train.data.transpose(0, 3, 1, 2), 255.0, size), np.asarray(train.targets, dtype=np.int64),
        to_model_images(test.data.transpose(0, 3, 1, 2), 255.0, size), np.asarray(test.targets, dtype=np.int64),
        info={"source": str(folder), "classes": list(train.classes)},
    )


register_dataset(Dataset("cifar10", "images", CONDITIONAL, load_cifar10, provides=("x", "y"), channels=3,
                         n_classes=10, reference="Krizhevsky 2009 (CIFAR-10)"))
