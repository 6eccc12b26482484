"""Datasets: generated 2-D mixtures, sklearn's digits, and standard image files read offline.

Every loader returns a :class:`RawDataset` in one convention: points as
float32 (N, 2); images as float32 (N, C, S, S) in [-1, 1] (the range of G's
tanh) at ``data.image_size``; labels as int64 where the data has them.

Nothing here downloads unless ``data.download: true`` *and* a network exists;
a missing file is reported with its name and the folder it is expected in, a
damaged one (truncated, not an IDX file, an unreadable image) with its name and the fix.
"""

from __future__ import annotations

import gzip
import math
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from pipeline.common.files import reason
from pipeline.config import IMAGE_DATASETS, Config


class DatasetError(RuntimeError):
    """A dataset that cannot be read; the message says what is missing and where to put it."""


@dataclass
class RawDataset:
    """One dataset in ganlab's convention, before it is written by ``prepare``."""

    name: str
    kind: str  # "points" or "images"
    train_x: np.ndarray
    train_y: np.ndarray | None
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


# --- 2-D mixtures -----------------------------------------------------------------------------


def mixture_modes(name: str) -> tuple[np.ndarray, float]:
    """Mode centres and the per-axis std of the 2-D benchmarks.

    ``ring8``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02;
    ``grid25``: a 5×5 grid at {-4, -2, 0, 2, 4}², std 0.05 (Metz et al. 2017,
    Unrolled GANs; Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).
    """
    if name == "ring8":
        angles = 2 * math.pi * np.arange(8) / 8
        return np.stack([2 * np.cos(angles), 2 * np.sin(angles)], axis=1), 0.02
    if name == "grid25":
        ticks = np.arange(-4.0, 5.0, 2.0)
        return np.array([(x, y) for x in ticks for y in ticks]), 0.05
    raise DatasetError(f"{name!r} is not a 2-D mixture")


def sample_mixture(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points from the equal-weight mixture, and the index of the mode each came from."""
    centres, std = mixture_modes(name)
    rng = np.random.default_rng(seed)
    labels = rng.integers(len(centres), size=n)
    points = centres[labels] + std * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels.astype(np.int64)


def load_mixture(name: str, config: Config, seed: int = 0) -> RawDataset:
    points, labels = sample_mixture(name, config.data.n_points, seed)
    centres, std = mixture_modes(name)
    return RawDataset(name, "points", points, labels,
                      info={"modes": centres.tolist(), "std": std, "source": f"generated (seed {seed})"})


# --- images -----------------------------------------------------------------------------------


def to_model_images(pixels: np.ndarray, max_value: float, size: int) -> np.ndarray:
    """uint8/float images (N, C, H, W) in [0, max_value] → float32 (N, C, size, size) in [-1, 1].

    Resizing is bilinear with antialiasing when shrinking.
    """
    images = torch.as_tensor(np.ascontiguousarray(pixels), dtype=torch.float32) / max_value
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=images.shape[-1] > size).clamp_(0.0, 1.0)
    return (images * 2.0 - 1.0).numpy()


def _split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Stratified train/test split with a fixed seed (datasets that ship no test split)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[: max(1, round(fraction * len(members)))]] = True
    return x[~test], y[~test], x[test], y[test]


def load_digits(config: Config) -> RawDataset:
    """The 1,797 8×8 handwritten digits bundled with scikit-learn (UCI optdigits; values 0–16)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = to_model_images(bunch.images[:, None], 16.0, config.data.image_size)
    train_x, train_y, test_x, test_y = _split(x, bunch.target.astype(np.int64), config.data.test_fraction, seed=0)
    return RawDataset("digits", "images", train_x, train_y, test_x, test_y,
                      info={"source": "sklearn.datasets.load_digits (bundled)", "classes": list(map(str, range(10)))})


_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_REPLACE_IDX = "replace it with a complete copy of the standard file (download it again)"


def _unzip_idx(found: Path, staged: Path, dataset: str) -> None:
    """Decompress ``found`` to ``staged``; a damaged archive raises :class:`DatasetError` naming ``found``."""
    try:
        with gzip.open(found) as src, open(staged, "wb") as dst:
            shutil.copyfileobj(src, dst)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DatasetError(f"{dataset} file {found} cannot be decompressed ({reason(err)}); it is damaged or "
                           f"incomplete: {_REPLACE_IDX}") from err


def _check_idx(found: Path, staged: Path, dataset: str) -> None:
    """Refuse an IDX file whose magic number is not that of its name (``idx3``: 0x00000803, ``idx1``: 0x00000801:
    unsigned bytes in 3 or 1 dimensions) or whose length differs from what its header announces.

    ``staged`` is the file as torchvision will read it; errors name ``found``, the user's file.
    """
    dims = 3 if "-idx3-" in staged.name else 1
    header_size = 4 * (1 + dims)
    with open(staged, "rb") as handle:
        header = handle.read(header_size)
    after = " after decompression" if found.suffix == ".gz" else ""
    if len(header) < 4 or struct.unpack(">I", header[:4])[0] != 0x800 + dims:
        raise DatasetError(f"{dataset} file {found} is not an IDX file (it starts with {header[:8]!r}{after}, not the "
                           f"magic number 0x0000080{dims}; a web page saved in its place?); {_REPLACE_IDX}")
    size = staged.stat().st_size
    expected = header_size + math.prod(struct.unpack(f">{dims}I", header[4:])) if len(header) == header_size else None
    if size != expected:
        announced = f"{expected:,}" if expected is not None else f"at least {header_size}"
        raise DatasetError(f"{dataset} file {found} holds {size:,} bytes{after} where its IDX header announces "
                           f"{announced} (an interrupted download?); {_REPLACE_IDX}")


def _stage_idx_files(folder: Path, torchvision_name: str, staging: Path) -> Path:
    """Lay the four IDX files out as torchvision expects (``<root>/<Class>/raw/<file>``, unzipped), each checked.

    Accepts ``folder/<file>[.gz]``, ``folder/raw/<file>[.gz]`` and the
    torchvision layout ``folder/<Class>/raw/<file>[.gz]``. A missing, damaged or
    wrong file raises :class:`DatasetError` naming it and the fix.
    """
    raw = staging / torchvision_name / "raw"
    raw.mkdir(parents=True)
    searched = [folder, folder / "raw", folder / torchvision_name / "raw"]
    for name in _IDX_FILES:
        found = next((d / (name + ext) for d in searched for ext in ("", ".gz") if (d / (name + ext)).is_file()), None)
        if found is None:
            raise DatasetError(
                f"{name}[.gz] not found in {folder} (also looked in raw/ and {torchvision_name}/raw/). "
                f"Put the four standard IDX files ({', '.join(_IDX_FILES)}, gzipped or not) there, "
                f"set data.paths.<dataset> to the folder that has them, or set data.download: true where a network exists."
            )
        if found.suffix == ".gz":
            _unzip_idx(found, raw / name, torchvision_name)
        else:
            (raw / name).symlink_to(found.resolve())
        _check_idx(found, raw / name, torchvision_name)
    return staging


def _torchvision_pair(cls: type, root: Path, shown: Path | None = None) -> tuple[Any, Any]:
    """The train and test splits of ``cls`` read from ``root``; errors name ``shown`` (default ``root``), the
    folder the user gave when ``root`` is a staging copy of it."""
    try:
        return cls(root=str(root), train=True, download=False), cls(root=str(root), train=False, download=False)
    except (RuntimeError, ValueError, OSError, EOFError) as err:
        raise DatasetError(f"{cls.__name__} files under {shown or root} could not be read ({reason(err)}); "
                           "are they complete and uncorrupted?") from err


def _download(cls: type, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    try:
        for train in (True, False):
            cls(root=str(root), train=train, download=True)
    except Exception as err:  # torchvision raises URLError, RuntimeError, OSError… offline
        raise DatasetError(
            f"downloading {cls.__name__} into {root} failed ({type(err).__name__}: {err}). "
            "Without a network, copy the standard files there yourself and keep data.download: false."
        ) from err


def load_idx_dataset(name: str, config: Config) -> RawDataset:
    """MNIST or Fashion-MNIST from their standard IDX files, read by torchvision."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]
    folder = config.data_path(name)
    if config.data.download:
        _download(cls, folder)
    with tempfile.TemporaryDirectory(prefix="ganlab-idx-") as tmp:
        train, test = _torchvision_pair(cls, _stage_idx_files(folder, cls.__name__, Path(tmp)), folder)
        size = config.data.image_size
        return RawDataset(
            name, "images",
            to_model_images(train.data.numpy()[:, None], 255.0, size), train.targets.numpy().astype(np.int64),
            to_model_images(test.data.numpy()[:, None], 255.0, size), test.targets.numpy().astype(np.int64),
            info={"source": str(folder), "classes": list(train.classes)},
        )


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


def load_cifar10(config: Config) -> RawDataset:
    """CIFAR-10 from the python batches (``cifar-10-batches-py/``), read by torchvision."""
    from torchvision.datasets import CIFAR10

    folder = config.data_path("cifar10")
    if config.data.download:
        _download(CIFAR10, folder)
    batches = folder / CIFAR10.base_folder
    expected = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    missing = [name for name in expected if not (batches / name).is_file()]
    if missing:
        raise DatasetError(
            f"CIFAR-10 file(s) {', '.join(missing)} not found in {batches}. Extract the python version of "
            f"CIFAR-10 (cifar-10-python.tar.gz) into {folder}, set data.paths.cifar10, or set data.download: true where a network exists."
        )
    train, test = _torchvision_pair(_local_cifar10(), folder)
    size = config.data.image_size
    return RawDataset(
        "cifar10", "images",
        to_model_images(train.data.transpose(0, 3, 1, 2), 255.0, size), np.asarray(train.targets, dtype=np.int64),
        to_model_images(test.data.transpose(0, 3, 1, 2), 255.0, size), np.asarray(test.targets, dtype=np.int64),
        info={"source": str(folder), "classes": list(train.classes)},
    )


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


def load_image_folder(config: Config) -> RawDataset:
    """Any folder of images with one sub-folder per class (torchvision ``ImageFolder``), as RGB.

    Images are resized to ``data.image_size`` (shorter side, then centre crop).
    One sub-folder is fine: the data is then unlabelled for metric purposes.
    """
    from torchvision import datasets, transforms

    folder = config.data_path("image-folder")
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist; set data.paths.image-folder to a folder of class sub-folders")
    size = config.data.image_size
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
    train_x, train_y, test_x, test_y = _split(x, labels, config.data.test_fraction, seed=0)
    return RawDataset("image-folder", "images", train_x, train_y, test_x, test_y, info=info)


def load_dataset(name: str, config: Config) -> RawDataset:
    """Load any dataset ganlab knows, by its params name."""
    if name in ("ring8", "grid25"):
        return load_mixture(name, config)
    if name == "digits":
        return load_digits(config)
    if name in ("mnist", "fashion-mnist"):
        return load_idx_dataset(name, config)
    if name == "cifar10":
        return load_cifar10(config)
    if name == "image-folder":
        return load_image_folder(config)
    raise DatasetError(f"unknown dataset {name!r}; known: ring8, grid25, {', '.join(IMAGE_DATASETS)}")
