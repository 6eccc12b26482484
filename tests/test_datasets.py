"""Every dataset loader, on standard files the test writes itself (no network, no downloads)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from pipeline.datasets import get_dataset
from pipeline.datasets.catalogue.mixtures import mixture_modes
from pipeline.datasets.registry import DatasetError, RawDataset
from tests.conftest import tiny_config


def load_dataset(name: str, config) -> RawDataset:
    """The registered dataset ``name`` as ``prepare`` loads it."""
    return get_dataset(name).load(config.data)


def write_idx(folder: Path, n_train: int = 30, n_test: int = 10, gz: bool = True, side: int = 28) -> np.ndarray:
    """The four IDX files of MNIST's format (LeCun et al.): big-endian magic, dims, then uint8 data."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, size=(n_train, side, side), dtype=np.uint8)
    for prefix, n, images in (("train", n_train, train_images), ("t10k", n_test, None)):
        images = images if images is not None else rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        blobs = {
            f"{prefix}-images-idx3-ubyte": struct.pack(">IIII", 0x803, n, side, side) + images.tobytes(),
            f"{prefix}-labels-idx1-ubyte": struct.pack(">II", 0x801, n) + labels.tobytes(),
        }
        for name, blob in blobs.items():
            if gz:
                with gzip.open(folder / f"{name}.gz", "wb") as handle:
                    handle.write(blob)
            else:
                (folder / name).write_bytes(blob)
    return train_images


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("gz", [True, False])
def test_idx_datasets_from_local_files(tmp_path, dataset, gz):
    images = write_idx(tmp_path / dataset, gz=gz)
    config = tiny_config(data={"root": str(tmp_path), "image_size": 32})
    data = load_dataset(dataset, config)
    assert data.train_x.shape == (30, 1, 32, 32) and data.test_x.shape == (10, 1, 32, 32)
    assert data.train_x.dtype == np.float32 and data.train_x.min() >= -1.0 and data.train_x.max() <= 1.0
    assert list(data.train_y[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert images.shape == (30, 28, 28)


def test_idx_pixels_are_scaled_exactly_without_resizing(tmp_path):
    images = write_idx(tmp_path / "mnist", side=16)
    data = load_dataset("mnist", tiny_config(data={"root": str(tmp_path), "image_size": 16}))
    np.testing.assert_allclose(data.train_x[:, 0], images / 255.0 * 2 - 1, atol=1e-6)


def test_data_paths_override_the_root(tmp_path):
    write_idx(tmp_path / "somewhere" / "else")
    config = tiny_config(data={"paths": {"mnist": str(tmp_path / "somewhere" / "else")}})
    assert load_dataset("mnist", config).train_x.shape[0] == 30


def test_missing_idx_file_says_which_and_where(tmp_path):
    write_idx(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\[\.gz\] not found in .*mnist"):
        load_dataset("mnist", tiny_config(data={"root": str(tmp_path)}))


def test_corrupt_idx_file_is_reported(tmp_path):
    write_idx(tmp_path / "mnist", gz=False)
    (tmp_path / "mnist" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte holds 11 bytes where its IDX header announces at "
                                           "least 16"):
        load_dataset("mnist", tiny_config(data={"root": str(tmp_path)}))


def _damage(path: Path, how: str) -> None:
    """Cut a file in half (an interrupted download) or put a web page in its place (a saved error page)."""
    data, page = path.read_bytes(), b"<html><body>404 Not Found</body></html>\n"
    path.write_bytes(data[: len(data) // 2] if how == "cut" else page)


def _one_line_error(tmp_path: Path, dataset: str, *needles: str) -> str:
    with pytest.raises(DatasetError) as raised:
        load_dataset(dataset, tiny_config(data={"root": str(tmp_path)}))
    message = str(raised.value)
    assert "\n" not in message and "ganlab-idx-" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


@pytest.mark.parametrize("name, gz, how, problem", [
    ("train-images-idx3-ubyte", True, "cut", "cannot be decompressed (EOFError"),
    ("train-images-idx3-ubyte", False, "html", "is not an IDX file (it starts with b'<html><b'"),
    ("t10k-labels-idx1-ubyte", True, "html", "cannot be decompressed (BadGzipFile"),
    ("train-images-idx3-ubyte", False, "cut", "holds 11,768 bytes where its IDX header announces 23,536"),
    ("t10k-labels-idx1-ubyte", False, "cut", "holds 9 bytes where its IDX header announces 18"),
])
def test_a_damaged_idx_file_is_named_with_the_fix(tmp_path, name, gz, how, problem):
    """A truncated or wrong IDX file is named as the user has it (not torchvision's staging copy), one line."""
    write_idx(tmp_path / "mnist", gz=gz)
    damaged = tmp_path / "mnist" / (name + (".gz" if gz else ""))
    _damage(damaged, how)
    _one_line_error(tmp_path, "mnist", f"MNIST file {damaged} ", problem, "download it again")


def test_a_gzipped_web_page_is_not_an_idx_file(tmp_path):
    write_idx(tmp_path / "fashion-mnist")
    damaged = tmp_path / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
    with gzip.open(damaged, "wb") as handle:
        handle.write(b"<!DOCTYPE html><html></html>")
    _one_line_error(tmp_path, "fashion-mnist", f"FashionMNIST file {damaged} is not an IDX file", "download it again")


def write_cifar(folder: Path, per_batch: int = 4) -> None:
    """CIFAR-10's python version: pickled dicts with 'data' (N, 3072) uint8 and 'labels'."""
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
                 "labels": [i % 10 for i in range(per_batch)]}
        (batches / name).write_bytes(pickle.dumps(entry))
    (batches / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))


def test_cifar10_from_python_batches(tmp_path):
    write_cifar(tmp_path / "cifar10")
    data = load_dataset("cifar10", tiny_config(data={"root": str(tmp_path), "image_size": 16}))
    assert data.train_x.shape == (20, 3, 16, 16) and data.test_x.shape == (4, 3, 16, 16)
    assert data.info["classes"][0] == "class0"


def test_cifar10_keeps_channel_order_and_pixel_values(tmp_path):
    """A row of CIFAR-10's python batches is 1,024 red, then 1,024 green, then 1,024 blue bytes, each a 32×32
    image in row-major order; at 32×32 (no resize) every pixel reaches [-1, 1] as 2·v/255 - 1."""
    write_cifar(tmp_path / "cifar10")
    first = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_1"
    entry = pickle.loads(first.read_bytes())
    blue = (np.arange(1024) % 251).astype(np.uint8)  # varies along the row and down the columns
    entry["data"][0] = np.concatenate([np.full(1024, 255, np.uint8), np.zeros(1024, np.uint8), blue])
    first.write_bytes(pickle.dumps(entry))
    image = load_dataset("cifar10", tiny_config(data={"root": str(tmp_path), "image_size": 32})).train_x[0]
    np.testing.assert_array_equal(image[0], np.ones((32, 32), np.float32))
    np.testing.assert_array_equal(image[1], -np.ones((32, 32), np.float32))
    np.testing.assert_allclose(image[2], blue.reshape(32, 32) / 255.0 * 2 - 1, atol=1e-6)


def test_cifar10_missing_batches_are_named(tmp_path):
    write_cifar(tmp_path / "cifar10")
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match="data_batch_3 not found"):
        load_dataset("cifar10", tiny_config(data={"root": str(tmp_path)}))


def test_image_folder_with_class_subfolders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (tmp_path / "image-folder" / label).mkdir(parents=True)
        for i in range(5):
            pixels = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "image-folder" / label / f"{i}.png")
    data = load_dataset("image-folder", tiny_config(data={"root": str(tmp_path), "image_size": 8}))
    assert data.train_x.shape[1:] == (3, 8, 8)
    assert len(data.train_x) + len(data.test_x) == 10
    assert data.info["classes"] == ["cats", "dogs"]


def test_image_folder_keeps_rgb_order_and_pixel_values(tmp_path):
    """Images already at image_size are not resampled: each PNG's RGB pixels come back as 2·v/255 - 1 (C, H, W),
    with the label of its sub-folder."""
    from PIL import Image

    written = {}
    for label, name in enumerate(("cats", "dogs")):
        (tmp_path / "image-folder" / name).mkdir(parents=True)
        for i in range(5):
            pixels = np.zeros((8, 8, 3), dtype=np.uint8)
            pixels[..., 0] = 20 * i + 100 * label  # red: which image
            pixels[..., 1] = np.arange(8)[None, :] * 30  # green grows along each row
            pixels[..., 2] = np.arange(8)[:, None] * 30  # blue grows down each column
            Image.fromarray(pixels).save(tmp_path / "image-folder" / name / f"{i}.png")
            written[int(pixels[0, 0, 0])] = (label, pixels)
    data = load_dataset("image-folder", tiny_config(data={"root": str(tmp_path), "image_size": 8}))
    images = np.concatenate([data.train_x, data.test_x])
    labels = np.concatenate([data.train_y, data.test_y])
    assert len(images) == len(written) == 10
    for image, label in zip(images, labels):
        expected_label, pixels = written[int(round((image[0, 0, 0] + 1) / 2 * 255))]
        assert label == expected_label
        np.testing.assert_allclose(image, pixels.transpose(2, 0, 1) / 255.0 * 2 - 1, atol=1e-6)


def test_a_truncated_image_in_an_image_folder_is_named(tmp_path):
    from PIL import Image

    for label in ("cats", "dogs"):
        (tmp_path / "image-folder" / label).mkdir(parents=True)
        for i in range(3):
            pixels = np.random.default_rng(i).integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "image-folder" / label / f"{i}.png")
    damaged = tmp_path / "image-folder" / "dogs" / "1.png"
    _damage(damaged, "cut")
    _one_line_error(tmp_path, "image-folder", f"image {damaged} cannot be read (OSError: image file is truncated)",
                    "replace it with an intact copy or remove it")


def test_image_folder_missing(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("image-folder", tiny_config(data={"root": str(tmp_path)}))


def test_digits_are_the_real_sklearn_images():
    data = load_dataset("digits", tiny_config(data={"image_size": 8}))
    assert len(data.train_x) + len(data.test_x) == 1797
    assert data.train_x.shape[1:] == (1, 8, 8)
    assert set(np.unique(data.train_y)) == set(range(10))


@pytest.mark.parametrize("name, n_modes, std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_mixtures_are_seeded_and_centred_on_their_modes(name, n_modes, std):
    config = tiny_config(data={"n_points": 5000})
    first, second = load_dataset(name, config), load_dataset(name, config)
    np.testing.assert_array_equal(first.train_x, second.train_x)
    centres, mode_std = mixture_modes(name)
    assert centres.shape == (n_modes, 2) and mode_std == std
    offsets = first.train_x - centres[first.train_y]
    assert abs(offsets.std() - std) < 0.1 * std


def test_ring8_radius_is_two():
    centres, _ = mixture_modes("ring8")
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0)


def test_download_offline_fails_with_a_clear_message(tmp_path, monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(DatasetError, match="(?s)downloading MNIST .* failed .*Without a network"):
        load_dataset("mnist", tiny_config(data={"root": str(tmp_path), "download": True}))
