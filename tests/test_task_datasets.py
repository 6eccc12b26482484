"""The task datasets made from data at hand (paired edges and inpainting, unpaired bold digits and digits ↔ MNIST,
super-resolution), each checked against an independent computation: scipy's Sobel and grey dilation, PIL's bicubic
resize, the photographs, the base images themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from pipeline.datasets import get_dataset
from pipeline.datasets.catalogue.bold_digits import SOURCE_SHARE, stroke_width
from pipeline.datasets.catalogue.digits import digit_images
from pipeline.datasets.catalogue.superres import load_base_sr
from pipeline.datasets.registry import DatasetError, RawDataset
from tests.conftest import tiny_config
from tests.test_datasets import write_idx

#: float32 arithmetic of two implementations of the same formula
TOLERANCE = 1e-5


def load(name: str, **data) -> RawDataset:
    return get_dataset(name).load(tiny_config(data=data).data)


def scipy_edges(image: np.ndarray) -> np.ndarray:
    """The Sobel magnitude of one (H, W) image by scipy.ndimage, scaled by its maximum to [-1, 1]."""
    magnitude = np.hypot(ndimage.sobel(image, axis=1, mode="reflect"), ndimage.sobel(image, axis=0, mode="reflect"))
    return magnitude / magnitude.max() * 2.0 - 1.0


def in_range(*arrays: np.ndarray) -> bool:
    return all(a.dtype == np.float32 and a.min() >= -1.0 and a.max() <= 1.0 for a in arrays)


@pytest.mark.parametrize("size", [8, 16])
def test_edges2digits_pairs_each_digit_with_its_sobel_edges(size):
    data, digits = load("edges2digits", image_size=size), load("digits", image_size=size)
    np.testing.assert_array_equal(data.train_x, digits.train_x)
    np.testing.assert_array_equal(data.test_y, digits.test_y)
    assert data.train_source.shape == data.train_x.shape == (len(data.train_y), 1, size, size)
    assert data.test_source.shape == data.test_x.shape and in_range(data.train_source, data.test_source)
    for image, edges in zip(data.train_x[:50], data.train_source[:50]):
        np.testing.assert_allclose(edges[0], scipy_edges(image[0].astype(np.float64)), atol=TOLERANCE)


def test_edges2mnist_is_made_from_the_mnist_files(tmp_path):
    write_idx(tmp_path / "mnist", side=16)
    data = load("edges2mnist", root=str(tmp_path), image_size=16)
    assert data.train_x.shape == data.train_source.shape == (30, 1, 16, 16) and data.test_source.shape[0] == 10
    np.testing.assert_allclose(data.test_source[3, 0], scipy_edges(data.test_x[3, 0].astype(np.float64)),
                               atol=TOLERANCE)


def test_edges2fashion_mnist_without_its_files_says_which_and_where(tmp_path):
    with pytest.raises(DatasetError) as raised:
        load("edges2fashion-mnist", root=str(tmp_path))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("edges2fashion-mnist is made from fashion-mnist, which cannot be read: ")
    assert f"train-images-idx3-ubyte[.gz] not found in {tmp_path / 'fashion-mnist'}" in message


def _rows_of(images: np.ndarray, candidates: np.ndarray) -> set[int]:
    """The indices of ``candidates`` equal to some image of ``images`` (every image must have one)."""
    flat = candidates.reshape(len(candidates), -1)
    found = set()
    for image in images.reshape(len(images), -1):
        matches = np.flatnonzero((flat == image).all(axis=1))
        assert len(matches), "an image that is no (restyled) digit"
        found |= set(matches.tolist())
    return found


@pytest.mark.parametrize("size", [8, 16])
def test_digits2bold_has_two_domains_and_no_pairs(size):
    data = load("digits2bold", image_size=size)
    images, labels = digit_images(size)
    width = stroke_width(size)
    bold = ndimage.grey_dilation(images, footprint=np.ones((1, 1, width, width)), mode="constant", cval=-1.0)
    source = np.concatenate([data.train_source, data.test_source])
    x = np.concatenate([data.train_x, data.test_x])
    assert len(source) + len(x) == len(images) and len(source) != len(x)
    assert len(source) == pytest.approx(SOURCE_SHARE * len(images), abs=10)
    assert in_range(x, source) and x.shape[1:] == source.shape[1:] == (1, size, size)
    # every x is a restyled digit, every source a digit as it is; no digit is in both domains
    in_b, in_a = _rows_of(x, bold), _rows_of(source, images)
    duplicates = {i for i in in_a | in_b if (images.reshape(len(images), -1) == images[i].reshape(-1)).all(1).sum() > 1}
    assert not (in_a & in_b) - duplicates
    np.testing.assert_array_equal(np.concatenate([data.train_y, data.test_y]),
                                  [labels[min(_rows_of(row[None], bold))] for row in x])
    np.testing.assert_array_equal(np.concatenate([data.train_source_y, data.test_source_y]),
                                  [labels[min(_rows_of(row[None], images))] for row in source])
    assert set(data.train_y) == set(data.train_source_y) == set(range(10))


def pil_bicubic(images: np.ndarray, factor: int) -> np.ndarray:
    """PIL's antialiased bicubic resize of every (float, mode F) channel, clipped to [-1, 1]."""
    side = images.shape[-1] // factor
    return np.stack([[np.asarray(Image.fromarray(channel, mode="F").resize((side, side), Image.BICUBIC))
                      for channel in image] for image in images]).clip(-1.0, 1.0)


@pytest.mark.parametrize("name, factor, size", [("digits-sr2", 2, 8), ("digits-sr4", 4, 8), ("digits-sr4", 4, 32)])
def test_digit_super_resolution_inputs_are_bicubic_downsamplings(name, factor, size):
    data, digits = load(name, image_size=size), load("digits", image_size=size)
    np.testing.assert_array_equal(data.train_x, digits.train_x)
    np.testing.assert_array_equal(data.train_y, digits.train_y)
    assert data.train_source.shape == (len(data.train_x), 1, size // factor, size // factor)
    assert in_range(data.train_source, data.test_source)
    np.testing.assert_allclose(data.train_source, pil_bicubic(data.train_x, factor), atol=TOLERANCE)
    np.testing.assert_allclose(data.test_source, pil_bicubic(data.test_x, factor), atol=TOLERANCE)


def test_a_scale_that_leaves_fewer_than_two_pixels_is_refused_naming_the_setting():
    with pytest.raises(DatasetError, match=r"^digits-sr8: data.image_size = 8 downsampled ×8 leaves 1 pixels; .*"
                                           r"at least 16 \(raise data.image_size\)$"):
        load_base_sr("digits", 8, tiny_config(data={"image_size": 8}).data)


def _found_in(crop: np.ndarray, photo: np.ndarray) -> bool:
    """Whether ``crop`` (C, S, S) in [-1, 1] is a window of the uint8 photograph (H, W, C)."""
    pixels = np.rint((crop.transpose(1, 2, 0) + 1.0) / 2.0 * 255.0).astype(np.uint8)
    windows = np.lib.stride_tricks.sliding_window_view(photo, pixels.shape)
    return bool((windows == pixels).all(axis=(-3, -2, -1)).any())


def test_photos_sr4_crops_the_photographs_and_holds_one_out():
    from skimage import data as photographs

    data = load("photos-sr4", image_size=8)
    assert data.train_x.shape == (768, 3, 8, 8) and data.test_x.shape == (256, 3, 8, 8)
    assert data.train_source.shape == (768, 3, 2, 2) and data.train_y is None
    np.testing.assert_allclose(data.train_source, pil_bicubic(data.train_x, 4), atol=TOLERANCE)
    assert _found_in(data.test_x[0], photographs.coffee())
    assert _found_in(data.train_x[0], photographs.astronaut()) and not _found_in(data.train_x[0], photographs.coffee())
    np.testing.assert_array_equal(data.train_x, load("photos-sr4", image_size=8).train_x)


def test_photos_sr2_is_the_same_crops_downsampled_by_two():
    data, by_four = load("photos-sr2", image_size=16), load("photos-sr4", image_size=16)
    np.testing.assert_array_equal(data.test_x, by_four.test_x)
    assert data.test_source.shape == (256, 3, 8, 8)
    np.testing.assert_allclose(data.test_source, pil_bicubic(data.test_x, 2), atol=TOLERANCE)


MNIST = Path("/work/shared/datasets/mnist")


def _missing_base(dataset: str, base: str, tmp_path: Path) -> str:
    """The one-line error of ``dataset`` whose base's files are absent, checked to name the file, folder and key."""
    with pytest.raises(DatasetError) as raised:
        load(dataset, root=str(tmp_path))
    message = str(raised.value)
    assert "\n" not in message and not (tmp_path / base).exists()
    assert message.startswith(f"{dataset} is made from {base}, which cannot be read: train-images-idx3-ubyte[.gz] "
                              f"not found in {tmp_path / base}")
    assert message.endswith(f"({dataset} reads the files of {base} from data.paths.{base}, else data.root/{base})")
    return message


@pytest.mark.parametrize("size, block", [(8, slice(2, 6)), (16, slice(4, 12))])
def test_inpaint_digits_fills_the_central_block_with_the_training_mean(size, block):
    data, digits = load("inpaint-digits", image_size=size), load("digits", image_size=size)
    np.testing.assert_array_equal(data.train_x, digits.train_x)
    np.testing.assert_array_equal(data.test_y, digits.test_y)
    fill = np.float32(digits.train_x.astype(np.float64).mean())
    assert -0.5 < fill < -0.3  # a grey square over the -1 background: the mask is visible
    for source, x in ((data.train_source, data.train_x), (data.test_source, data.test_x)):
        assert source.shape == x.shape and source.dtype == np.float32
        assert (source[:, :, block, block] == fill).all()
        outside = np.ones((size, size), dtype=bool)
        outside[block, block] = False
        np.testing.assert_array_equal(source[:, :, outside], x[:, :, outside])
    assert data.info["inpainting"]["top"] == data.info["inpainting"]["left"] == block.start
    assert data.info["inpainting"]["side"] == size // 2 and data.info["inpainting"]["fill"] == [pytest.approx(fill)]


def test_inpaint_mnist_masks_the_mnist_images_with_their_training_mean(tmp_path):
    write_idx(tmp_path / "mnist")
    data = load("inpaint-mnist", root=str(tmp_path), image_size=16)
    mnist = load("mnist", root=str(tmp_path), image_size=16)
    np.testing.assert_array_equal(data.test_x, mnist.test_x)
    fill = np.float32(mnist.train_x.astype(np.float64).mean())
    assert (data.test_source[:, :, 4:12, 4:12] == fill).all() and (data.train_source[:, :, 4:12, 4:12] == fill).all()
    np.testing.assert_array_equal(data.test_source[:, :, :4], mnist.test_x[:, :, :4])


def test_inpaint_fashion_mnist_without_its_files_names_the_file_the_folder_and_the_key(tmp_path):
    _missing_base("inpaint-fashion-mnist", "fashion-mnist", tmp_path)


def _same_rows(images: np.ndarray, labels: np.ndarray, base_images: np.ndarray, base_labels: np.ndarray) -> None:
    """``images`` with ``labels`` are the rows of ``base_images`` with ``base_labels``, each image with its own label,
    in any order (compared as sorted multisets of (pixels, label) rows)."""

    def ordered(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        rows = np.column_stack([x.reshape(len(x), -1), y.astype(x.dtype)])
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_array_equal(ordered(images, labels), ordered(base_images, base_labels))


def test_digits2mnist_has_the_digits_as_domain_a_and_mnist_as_domain_b_shuffled(tmp_path):
    write_idx(tmp_path / "mnist", n_train=40, n_test=12)
    data = load("digits2mnist", paths={"mnist": str(tmp_path / "mnist")}, image_size=16)
    digits, mnist = load("digits", image_size=16), load("mnist", paths={"mnist": str(tmp_path / "mnist")},
                                                        image_size=16)
    assert data.train_x.shape == (40, 1, 16, 16) and data.test_x.shape == (12, 1, 16, 16)
    assert data.train_source.shape == digits.train_x.shape and data.test_source.shape == digits.test_x.shape
    _same_rows(data.train_x, data.train_y, mnist.train_x, mnist.train_y)
    _same_rows(data.test_x, data.test_y, mnist.test_x, mnist.test_y)
    _same_rows(data.train_source, data.train_source_y, digits.train_x, digits.train_y)
    _same_rows(data.test_source, data.test_source_y, digits.test_x, digits.test_y)
    assert not np.array_equal(data.train_y, mnist.train_y)  # each split shuffled
    assert not np.array_equal(data.train_source_y, digits.train_y)
    assert data.info["domains"] == {"source": "digits (scikit-learn)", "x": "MNIST"}


def test_digits2mnist_without_mnist_names_the_file_the_folder_and_the_key(tmp_path):
    _missing_base("digits2mnist", "mnist", tmp_path)


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"no MNIST files in {MNIST}")
def test_digits2mnist_from_the_real_mnist_files():
    data = load("digits2mnist", paths={"mnist": str(MNIST)})
    assert (len(data.train_x), len(data.test_x)) == (60_000, 10_000)
    assert len(data.train_source) + len(data.test_source) == 1797
    assert set(data.train_y) == set(data.train_source_y) == set(range(10)) and in_range(data.train_x, data.train_source)


@pytest.mark.parametrize("name, base, factor", [("mnist-sr2", "mnist", 2), ("mnist-sr4", "mnist", 4),
                                                ("fashion-mnist-sr2", "fashion-mnist", 2),
                                                ("fashion-mnist-sr4", "fashion-mnist", 4)])
def test_idx_super_resolution_inputs_are_bicubic_downsamplings_of_the_base(tmp_path, name, base, factor):
    write_idx(tmp_path / base)
    data, images = load(name, root=str(tmp_path), image_size=16), load(base, root=str(tmp_path), image_size=16)
    np.testing.assert_array_equal(data.train_x, images.train_x)
    np.testing.assert_array_equal(data.test_y, images.test_y)
    assert data.train_source.shape == (30, 1, 16 // factor, 16 // factor) and in_range(data.train_source)
    np.testing.assert_allclose(data.train_source, pil_bicubic(data.train_x, factor), atol=TOLERANCE)
    np.testing.assert_allclose(data.test_source, pil_bicubic(data.test_x, factor), atol=TOLERANCE)


def test_fashion_mnist_sr4_without_its_files_names_the_file_the_folder_and_the_key(tmp_path):
    _missing_base("fashion-mnist-sr4", "fashion-mnist", tmp_path)
