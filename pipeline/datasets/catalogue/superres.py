"""Super-resolution data: ``x`` is an image at ``data.image_size``, ``source`` the same image bicubic-downsampled by
the dataset's scale (:func:`pipeline.datasets.pixels.bicubic_downsample`), row i of each belonging together --
the low-resolution inputs of SRGAN (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", Sec. 3.1: LR images made by bicubic downsampling ×4).

- ``digits-sr2``, ``digits-sr4``: scikit-learn's digits (labelled) ×2 and ×4; sklearn's digits are 8×8, so at
  ``data.image_size: 8`` ×4 leaves 2×2 inputs, and a scale that leaves fewer than 2 pixels is refused.
- ``mnist-sr2``, ``mnist-sr4``, ``fashion-mnist-sr2``, ``fashion-mnist-sr4``: the same of MNIST and Fashion-MNIST
  (labelled, their official splits), from their IDX files (``data.paths.mnist`` / ``data.paths.fashion-mnist``,
  else under ``data.root``); 28×28 images resized to ``data.image_size`` first (32 keeps their detail).
- ``photos-sr2``, ``photos-sr4``: :data:`CROPS_PER_PHOTO` random ``image_size`` crops (seed :data:`SEED`) of each
  RGB photograph bundled with scikit-image, at its own resolution; the test split is the crops of a photograph the
  training split never sees (:data:`TEST_PHOTOS`), as SR benchmarks hold out whole images. Unlabelled.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from pipeline.datasets.bases import read_base
from pipeline.datasets.catalogue.digits import CONDITIONAL
from pipeline.datasets.pixels import bicubic_downsample, to_model_images
from pipeline.datasets.registry import Dataset, DataSettings, RawDataset, register_dataset, source_side

TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket")
TEST_PHOTOS = ("coffee",)
CROPS_PER_PHOTO = 256
SEED = 0
SRGAN = "LR by bicubic downsampling as SRGAN (Ledig et al. 2017)"
#: The labelled bases (:data:`pipeline.datasets.bases.IMAGE_BASES`) with super-resolution datasets ``<base>-sr<scale>``.
LABELLED_BASES = ("digits", "mnist", "fashion-mnist")


def low_resolution(name: str, base: RawDataset, scale: int) -> RawDataset:
    """``base`` with the bicubic ×``scale`` downsampling of each image as its ``source``."""
    source_side(base.train_x.shape[-1], scale, name)
    info = {**base.info, "source": f"{base.info['source']}; source: bicubic ×{scale} downsampling"}
    return RawDataset(name, "images", base.train_x, base.train_y, base.test_x, base.test_y, info=info,
                      train_source=bicubic_downsample(base.train_x, scale),
                      test_source=bicubic_downsample(base.test_x, scale))


def load_base_sr(base: str, scale: int, data: DataSettings) -> RawDataset:
    """``<base>-sr<scale>``: the labelled base at ``data.image_size`` and its bicubic ×``scale`` downsampling."""
    name = f"{base}-sr{scale}"
    return low_resolution(name, read_base(name, base, data), scale)


def photo_crops(photos: tuple[str, ...], size: int, count: int, seed: int) -> np.ndarray:
    """``count`` random ``size`` × ``size`` crops of each named scikit-image photograph, float32 (N, 3, S, S)."""
    from skimage import data as photographs

    rng = np.random.default_rng(seed)
    crops = []
    for photo in photos:
        pixels = getattr(photographs, photo)()
        tops = rng.integers(0, pixels.shape[0] - size + 1, size=count)
        lefts = rng.integers(0, pixels.shape[1] - size + 1, size=count)
        crops += [pixels[top : top + size, left : left + size] for top, left in zip(tops, lefts)]
    return to_model_images(np.stack(crops).transpose(0, 3, 1, 2), 255.0, size)


def load_photos_sr(scale: int, data: DataSettings) -> RawDataset:
    name, size = f"photos-sr{scale}", data.image_size
    photos = RawDataset(name, "images", photo_crops(TRAIN_PHOTOS, size, CROPS_PER_PHOTO, SEED), None,
                        photo_crops(TEST_PHOTOS, size, CROPS_PER_PHOTO, SEED + 1),
                        info={"source": f"skimage.data photographs (bundled), {CROPS_PER_PHOTO} random crops each; "
                                        f"train: {', '.join(TRAIN_PHOTOS)}; test: {', '.join(TEST_PHOTOS)}"})
    return low_resolution(name, photos, scale)


for _scale in (2, 4):
    for _base in LABELLED_BASES:
        register_dataset(Dataset(f"{_base}-sr{_scale}", "images", CONDITIONAL + ("super-resolution",),
                                 partial(load_base_sr, _base, _scale), provides=("x", "y", "source"),
                                 pairing="paired", n_classes=10, scale=_scale, reference=SRGAN))
    register_dataset(Dataset(f"photos-sr{_scale}", "images", ("unconditional", "super-resolution"),
                             partial(load_photos_sr, _scale), provides=("x", "source"), pairing="paired", channels=3,
                             scale=_scale, reference=SRGAN))
