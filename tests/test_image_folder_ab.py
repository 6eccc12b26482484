"""A user's own translation data in ``A/`` and ``B/`` sub-folders: ``image-folder-pairs`` pairs files by name and
keeps each pair on one row; ``image-folder-domains`` takes two unpaired domains of any counts and sizes; a missing
folder, an unmatched name, an ambiguous name or an unreadable file fails in one line naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.datasets import get_dataset
from pipeline.datasets.registry import DatasetError, RawDataset
from tests.conftest import tiny_config


def load(name: str, root: Path, size: int = 8) -> RawDataset:
    return get_dataset(name).load(tiny_config(data={"root": str(root), "image_size": size}).data)


def coded_image(index: int, side: int, domain: int) -> np.ndarray:
    """A flat RGB image whose red value says which image it is and whose green value says its domain."""
    pixels = np.zeros((side, side, 3), dtype=np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 10 * index, 100 + 100 * domain, 7
    return pixels


def write(folder: Path, name: str, pixels: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(folder / name)
    return folder / name


def model_value(byte: int) -> float:
    return 2.0 * byte / 255.0 - 1.0


@pytest.fixture
def pairs_folder(tmp_path: Path) -> Path:
    """``image-folder-pairs`` with 10 pairs: A/ PNGs at 8×8, B/ at 8×8 as PNG or BMP (names agree without the
    extension), and a README that is no image."""
    root = tmp_path / "image-folder-pairs"
    for index in range(10):
        write(root / "A", f"{index:03d}.png", coded_image(index, 8, 0))
        write(root / "B", f"{index:03d}.{'bmp' if index % 2 else 'png'}", coded_image(index, 8, 1))
    (root / "A" / "README.txt").write_text("not an image")
    return tmp_path


def test_image_folder_pairs_keep_each_pair_on_one_row(pairs_folder):
    data = load("image-folder-pairs", pairs_folder)
    assert data.train_y is None and data.train_source_y is None
    assert len(data.train_x) + len(data.test_x) == 10 and len(data.test_x) == 2  # test_fraction 0.2 of the tiny config
    for sources, targets in ((data.train_source, data.train_x), (data.test_source, data.test_x)):
        assert sources.shape == targets.shape and sources.shape[1:] == (3, 8, 8)
        np.testing.assert_allclose(sources[:, 1], model_value(100), atol=1e-6)  # A/ in source
        np.testing.assert_allclose(targets[:, 1], model_value(200), atol=1e-6)  # B/ in x
        np.testing.assert_array_equal(sources[:, 0], targets[:, 0])  # the same image index, row by row
    found = np.concatenate([data.train_x[:, 0, 0, 0], data.test_x[:, 0, 0, 0]])
    assert sorted(found.tolist()) == pytest.approx([model_value(10 * i) for i in range(10)])
    np.testing.assert_array_equal(data.test_x, load("image-folder-pairs", pairs_folder).test_x)  # a fixed split


def test_image_folder_pairs_are_resized_as_image_folder_resizes(tmp_path):
    """A 12×16 image becomes image_size × image_size by torchvision's Resize (shorter side) and centre crop."""
    from torchvision import transforms

    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8) for _ in range(3)]
    for index, image in enumerate(pixels):
        write(tmp_path / "image-folder-pairs" / "A", f"{index}.png", image)
        write(tmp_path / "image-folder-pairs" / "B", f"{index}.png", image[::-1].copy())
    data = load("image-folder-pairs", tmp_path)
    resize = transforms.Compose([transforms.Resize(8), transforms.CenterCrop(8), transforms.PILToTensor()])
    wanted = np.stack([resize(Image.fromarray(image)).numpy() for image in pixels]) / 255.0 * 2.0 - 1.0
    for row in np.concatenate([data.train_source, data.test_source]):
        assert min(np.abs(row - candidate).max() for candidate in wanted) < 1e-6


@pytest.mark.parametrize("only_a, only_b, problem", [
    (["x.png"], [], "1 files of A/ have no partner in B/: x.png"),
    (["p.png", "q.png", "r.png", "s.png", "t.png"], ["zz.png"],
     "5 files of A/ have no partner in B/: p.png, q.png, r.png and 2 more; "
     "1 files of B/ have no partner in A/: zz.png"),
])
def test_unmatched_names_are_refused_naming_a_few(pairs_folder, only_a, only_b, problem):
    root = pairs_folder / "image-folder-pairs"
    for folder, names in ((root / "A", only_a), (root / "B", only_b)):
        for name in names:
            write(folder, name, coded_image(0, 8, 0))
    with pytest.raises(DatasetError) as raised:
        load("image-folder-pairs", pairs_folder)
    message = str(raised.value)
    assert "\n" not in message
    assert message == (f"image-folder-pairs: the files of {root}/A and {root}/B pair by name (extension aside); "
                       f"{problem}")


def test_two_files_of_one_name_are_refused_as_ambiguous(pairs_folder):
    write(pairs_folder / "image-folder-pairs" / "A", "003.bmp", coded_image(3, 8, 0))
    with pytest.raises(DatasetError, match=r"^image-folder-pairs: 003.bmp and 003.png in .*/A share the name '003', so "
                                          r"their partner is ambiguous; rename or remove one$"):
        load("image-folder-pairs", pairs_folder)


@pytest.mark.parametrize("dataset", ["image-folder-pairs", "image-folder-domains"])
def test_a_missing_folder_or_sub_folder_says_what_to_put_where(tmp_path, dataset):
    with pytest.raises(DatasetError) as raised:
        load(dataset, tmp_path)
    assert str(raised.value) == (f"{dataset}: folder {tmp_path / dataset} does not exist; set data.paths.{dataset} to "
                                 f"a folder with sub-folders A/ (inputs) and B/ (targets) of images")
    write(tmp_path / dataset / "A", "1.png", coded_image(1, 8, 0))
    write(tmp_path / dataset / "A", "2.png", coded_image(2, 8, 0))
    with pytest.raises(DatasetError, match=rf"^{dataset}: {tmp_path / dataset / 'B'} does not exist; put the inputs"):
        load(dataset, tmp_path)
    write(tmp_path / dataset / "B", "1.png", coded_image(1, 8, 1))
    with pytest.raises(DatasetError, match=rf"{tmp_path / dataset / 'B'} holds 1 images; put at least 2 images"):
        load(dataset, tmp_path)


@pytest.mark.parametrize("dataset", ["image-folder-pairs", "image-folder-domains"])
def test_an_unreadable_image_is_named(pairs_folder, dataset):
    if dataset != "image-folder-pairs":
        (pairs_folder / "image-folder-pairs").rename(pairs_folder / dataset)
    damaged = pairs_folder / dataset / "B" / "004.png"
    damaged.write_bytes(damaged.read_bytes()[:40])
    with pytest.raises(DatasetError) as raised:
        load(dataset, pairs_folder)
    assert str(raised.value).startswith(f"image {damaged} cannot be read (")
    assert str(raised.value).endswith(f"replace it with an intact copy or remove it from {pairs_folder / dataset}")


def test_image_folder_domains_take_any_counts_and_sizes(tmp_path):
    root = tmp_path / "image-folder-domains"
    for index in range(7):
        write(root / "A", f"a{index}.png", coded_image(index, 8 + index, 0))
    for index in range(12):
        write(root / "B", f"b{index}.jpg" if index % 3 else f"b{index}.png", coded_image(index, 20, 1))
    data = load("image-folder-domains", tmp_path)
    assert (len(data.train_source), len(data.test_source), len(data.train_x), len(data.test_x)) == (6, 1, 10, 2)
    assert data.train_x.shape[1:] == data.train_source.shape[1:] == (3, 8, 8) and data.train_y is None
    sources = np.concatenate([data.train_source, data.test_source])
    assert sorted(sources[:, 0, 0, 0].tolist()) == pytest.approx([model_value(10 * i) for i in range(7)])
    np.testing.assert_allclose(np.concatenate([data.train_x, data.test_x])[:, 1], model_value(200), atol=0.02)
    assert data.info["domains"] == {"source": "A", "x": "B"}
