"""A user's own translation data: a folder with sub-folders ``A/`` (the inputs, ``source``) and ``B/`` (the targets,
``x``), as pix2pix's and CycleGAN's datasets are laid out (junyanz/pytorch-CycleGAN-and-pix2pix: ``trainA/``,
``trainB/``; its ``combine_A_and_B.py`` pairs ``A/`` and ``B/`` files of the same name), read from
``data.paths.<dataset>`` (else ``data.root/<dataset>``):

- ``image-folder-pairs``: paired translation A → B (pix2pix, Isola et al. 2017); a file of ``A/`` and a file of
  ``B/`` are a pair when their names agree without the extension (``A/0001.png`` ↔ ``B/0001.jpg``); every file
  needs its partner, else the dataset fails naming a few of the unmatched ones.
- ``image-folder-domains``: unpaired translation A ↔ B (CycleGAN, Zhu et al. 2017); the domains may hold any
  numbers of images of any sizes.

Files are the image types torchvision's ``ImageFolder`` reads (others, e.g. a README, are skipped), taken in the
order of their names, each read and resized as ``image-folder`` reads its images
(:func:`pipeline.datasets.catalogue.image_folder.read_rgb_images`: RGB, shorter side to ``data.image_size``,
centre crop). The data is unlabelled. A held-out split of ``data.test_fraction`` (at least one image) is drawn
with a fixed seed: of the pairs (seed 0), or of each domain on its own (seeds 1 and 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.datasets.catalogue.image_folder import read_rgb_images
from pipeline.datasets.pixels import held_out, to_model_images
from pipeline.datasets.registry import Dataset, DatasetError, DataSettings, RawDataset, register_dataset

PAIRS, DOMAINS = "image-folder-pairs", "image-folder-domains"
#: The sub-folders: inputs (``source``) and targets (``x``).
SOURCE_FOLDER, TARGET_FOLDER = "A", "B"
#: Unmatched file names an error shows per sub-folder.
SHOWN_NAMES = 3
SEED = 0


def domain_files(folder: Path, dataset: str) -> dict[str, list[Path]]:
    """The image files of ``folder/A`` and ``folder/B`` in name order; a missing folder or sub-folder, or one with
    fewer than two images (one to train on, one held out), raises :class:`DatasetError` saying what to put where."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    if not folder.is_dir():
        raise DatasetError(f"{dataset}: folder {folder} does not exist; set data.paths.{dataset} to a folder with "
                           f"sub-folders {SOURCE_FOLDER}/ (inputs) and {TARGET_FOLDER}/ (targets) of images")
    files = {}
    for name in (SOURCE_FOLDER, TARGET_FOLDER):
        sub = folder / name
        if not sub.is_dir():
            raise DatasetError(f"{dataset}: {sub} does not exist; put the inputs in {folder}/{SOURCE_FOLDER}/ and the "
                               f"targets in {folder}/{TARGET_FOLDER}/")
        found = sorted(path for path in sub.iterdir() if path.is_file() and path.suffix.lower() in IMG_EXTENSIONS)
        if len(found) < 2:
            raise DatasetError(f"{dataset}: {sub} holds {len(found)} images; put at least 2 images "
                               f"({', '.join(IMG_EXTENSIONS)}) in {sub}/")
        files[name] = found
    return files


def by_stem(paths: list[Path], dataset: str) -> dict[str, Path]:
    """``paths`` by their names without the extension; two files of one name (``1.png``, ``1.jpg``) are refused."""
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise DatasetError(f"{dataset}: {stems[path.stem].name} and {path.name} in {path.parent} share the name "
                               f"{path.stem!r}, so their partner is ambiguous; rename or remove one")
        stems[path.stem] = path
    return stems


def unmatched(names: list[str], inside: str, outside: str) -> str:
    """"2 files of A/ have no partner in B/: x.png, y.png" (at most :data:`SHOWN_NAMES` names, then a count)."""
    more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
    return f"{len(names)} files of {inside}/ have no partner in {outside}/: {', '.join(names[:SHOWN_NAMES])}{more}"


def paired_files(files: dict[str, list[Path]], folder: Path) -> list[tuple[Path, Path]]:
    """The (A, B) pairs of equal names, in name order; a file without its partner fails naming a few of them."""
    sources, targets = by_stem(files[SOURCE_FOLDER], PAIRS), by_stem(files[TARGET_FOLDER], PAIRS)
    problems = [unmatched([paths[stem].name for stem in sorted(set(paths) - set(others))], inside, outside)
                for paths, others, inside, outside in ((sources, targets, SOURCE_FOLDER, TARGET_FOLDER),
                                                       (targets, sources, TARGET_FOLDER, SOURCE_FOLDER))
                if set(paths) - set(others)]
    if problems:
        raise DatasetError(f"{PAIRS}: the files of {folder}/{SOURCE_FOLDER} and {folder}/{TARGET_FOLDER} pair by "
                           f"name (extension aside); {'; '.join(problems)}")
    return [(sources[stem], targets[stem]) for stem in sorted(sources)]


def model_images(paths: list[Path], size: int, folder: Path) -> np.ndarray:
    """The images at ``paths`` as float32 (N, 3, size, size) in [-1, 1]."""
    return to_model_images(read_rgb_images(paths, size, folder), 255.0, size)


def held_out_mask(count: int, fraction: float, seed: int) -> np.ndarray:
    """A held-out mask of ``round(fraction × count)`` (at least one) of ``count`` unlabelled images."""
    return held_out(np.zeros(count, dtype=np.int64), fraction, seed)


def load_image_folder_pairs(data: DataSettings) -> RawDataset:
    """A/ → B/ pairs of equal names: ``source`` from A/, ``x`` from B/, row by row."""
    folder, size = data.folder(PAIRS), data.image_size
    pairs = paired_files(domain_files(folder, PAIRS), folder)
    sources = model_images([a for a, _ in pairs], size, folder)
    targets = model_images([b for _, b in pairs], size, folder)
    test = held_out_mask(len(pairs), data.test_fraction, SEED)
    info = {"source": f"{folder}: {len(pairs)} pairs by file name, {SOURCE_FOLDER}/ → {TARGET_FOLDER}/",
            "domains": {"source": SOURCE_FOLDER, "x": TARGET_FOLDER}}
    return RawDataset(PAIRS, "images", targets[~test], None, targets[test], None, info=info,
                      train_source=sources[~test], test_source=sources[test])


def load_image_folder_domains(data: DataSettings) -> RawDataset:
    """Domain A (``source``) from A/, domain B (``x``) from B/, each with its own held-out split."""
    folder, size = data.folder(DOMAINS), data.image_size
    files = domain_files(folder, DOMAINS)
    sources = model_images(files[SOURCE_FOLDER], size, folder)
    targets = model_images(files[TARGET_FOLDER], size, folder)
    test_a = held_out_mask(len(sources), data.test_fraction, SEED + 1)
    test_b = held_out_mask(len(targets), data.test_fraction, SEED + 2)
    info = {"source": f"{folder}: domain A = {len(sources)} images of {SOURCE_FOLDER}/, domain B = {len(targets)} "
                      f"images of {TARGET_FOLDER}/, unpaired",
            "domains": {"source": SOURCE_FOLDER, "x": TARGET_FOLDER}}
    return RawDataset(DOMAINS, "images", targets[~test_b], None, targets[test_b], None, info=info,
                      train_source=sources[~test_a], test_source=sources[test_a])


register_dataset(Dataset(PAIRS, "images", ("unconditional", "paired-translation"), load_image_folder_pairs,
                         provides=("x", "source"), pairing="paired", channels=3,
                         reference="a local folder of A/ and B/ images paired by name (pix2pix, Isola et al. 2017)"))
register_dataset(Dataset(DOMAINS, "images", ("unconditional", "unpaired-translation"), load_image_folder_domains,
                         provides=("x", "source"), pairing="unpaired", channels=3,
                         reference="a local folder of A/ and B/ images, unpaired (CycleGAN, Zhu et al. 2017)"))
