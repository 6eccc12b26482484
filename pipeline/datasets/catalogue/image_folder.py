"""``image-folder``: any folder of images with one sub-folder per class (torchvision ``ImageFolder``), as RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.common.files import reason
from pipeline.datasets.catalogue.digits import CONDITIONAL
from pipeline.datasets.pixels import held_out, to_model_images
from pipeline.datasets.registry import Dataset, DatasetError, DataSettings, RawDataset, register_dataset


def read_rgb_images(paths: list[Path], size: int, folder: Path) -> np.ndarray:
    """The images at ``paths`` as RGB uint8 (N, 3, size, size), each read as torchvision's ``ImageFolder`` reads it
    (PIL, converted to RGB), its shorter side resized to ``size`` (torchvision ``Resize``: bilinear, antialiased)
    and centre-cropped; an unreadable one raises :class:`DatasetError` naming it and ``folder``."""
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (OSError, SyntaxError) as err:  # PIL: truncated or unidentified files; SyntaxError: a broken PNG chunk
            raise DatasetError(f"image {path} cannot be read ({reason(err)}); replace it with an intact copy or "
                               f"remove it from {folder}") from err
        images.append(transform(rgb).numpy())
    return np.stack(images)


def load_image_folder(data: DataSettings) -> RawDataset:
    """Any folder of images with one sub-folder per class (torchvision ``ImageFolder``), as RGB.

    Images are resized to ``data.image_size`` (shorter side, then centre crop).
    One sub-folder is fine: the data is then unlabelled for metric purposes.
    """
    from torchvision import datasets

    folder = data.folder("image-folder")
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist; set data.paths.image-folder to a folder of class sub-folders")
    try:
        dataset = datasets.ImageFolder(str(folder))
    except (FileNotFoundError, RuntimeError) as err:
        raise DatasetError(f"{folder}: {err}. Put images in class sub-folders, e.g. {folder}/cats/001.png") from err
    pixels = read_rgb_images([Path(path) for path, _ in dataset.samples], data.image_size, folder)
    labels = np.asarray(dataset.targets, dtype=np.int64)
    x = to_model_images(pixels, 255.0, data.image_size)
    info = {"source": str(folder), "classes": list(dataset.classes)}
    if len(dataset.classes) < 2:
        return RawDataset("image-folder", "images", x, None, info=info)
    test = held_out(labels, data.test_fraction, seed=0)
    return RawDataset("image-folder", "images", x[~test], labels[~test], x[test], labels[test], info=info)


#: The class count is unknown until the folder is read (0 in the provisional spec).
register_dataset(Dataset("image-folder", "images", CONDITIONAL, load_image_folder, provides=("x", "y"), channels=3,
                         reference="a local folder of class sub-folders"))
