"""``image-folder``: any folder of images with one sub-folder per class (torchvision ``ImageFolder``), as RGB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.common.files import reason
from pipeline.datasets.catalogue.digits import CONDITIONAL
from pipeline.datasets.pixels import held_out, to_model_images
from pipeline.datasets.registry import Dataset, DatasetError, DataSettings, RawDataset, register_dataset


def _read_images(dataset: Any, folder: Path) -> list[np.ndarray]:
    """Every image of an ``ImageFolder`` as an array; an unreadable one raises :class:`DatasetError` naming it."""
    images = []
    for index, (path, _) in enumerate(dataset.samples):
        try:
            images.append(np.asarray(dataset[index][0]))
        except (OSError, SyntaxError) as err:  # PIL: truncated or unidentified files; SyntaxError: a broken PNG chunk
            raise DatasetError(f"image {path} cannot be read ({reason(err)}); replace it with an intact copy or "
                               f"remove it from {folder}") from err
    return images


def load_image_folder(data: DataSettings) -> RawDataset:
    """Any folder of images with one sub-folder per class (torchvision ``ImageFolder``), as RGB.

    Images are resized to ``data.image_size`` (shorter side, then centre crop).
    One sub-folder is fine: the data is then unlabelled for metric purposes.
    """
    from torchvision import datasets, transforms

    folder = data.folder("image-folder")
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist; set data.paths.image-folder to a folder of class sub-folders")
    size = data.image_size
    transform = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    try:
        dataset = datasets.ImageFolder(str(folder), transform=transform)
    except (FileNotFoundError, RuntimeError) as err:
        raise DatasetError(f"{folder}: {err}. Put images in class sub-folders, e.g. {folder}/cats/001.png") from err
    pixels = np.stack(_read_images(dataset, folder))
    labels = np.asarray(dataset.targets, dtype=np.int64)
    x = to_model_images(pixels, 255.0, size)
    info = {"source": str(folder), "classes": list(dataset.classes)}
    if len(dataset.classes) < 2:
        return RawDataset("image-folder", "images", x, None, info=info)
    test = held_out(labels, data.test_fraction, seed=0)
    return RawDataset("image-folder", "images", x[~test], labels[~test], x[test], labels[test], info=info)


#: The class count is unknown until the folder is read (0 in the provisional spec).
register_dataset(Dataset("image-folder", "images", CONDITIONAL, load_image_folder, provides=("x", "y"), channels=3,
                         reference="a local folder of class sub-folders"))
