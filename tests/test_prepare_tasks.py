"""``prepare`` of task data: the source arrays round trip through the store with their sha256 checked, the manifest
says what the data serves, the domain classifier learns the right images, ``training_arrays`` gives every task
its batch keys or refuses in one line, and every task dataset made from files (MNIST's and Fashion-MNIST's IDX files,
a user's A/ and B/ folders) prepares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.common.layout import prepared_dir, reference_dir
from pipeline.data.classifier import load_classifier_reference
from pipeline.data.stage import prepare
from pipeline.data.store import PreparedDataError, data_spec, load_prepared, training_arrays
from pipeline.datasets import get_dataset
from tests.conftest import tiny_config
from tests.test_datasets import write_idx


@pytest.fixture
def task_data(in_tmp):
    """ring8, digits and the embedded datasets of each source-bearing task, prepared with the tiny config."""
    config = tiny_config()
    for dataset in ("ring8", "digits", "edges2digits", "inpaint-digits", "digits2bold", "digits-sr2"):
        prepare(config, dataset)
    return config


@pytest.mark.parametrize("dataset", ["edges2digits", "inpaint-digits", "digits2bold", "digits-sr2"])
def test_every_array_round_trips_through_the_store(task_data, dataset):
    raw, prepared = get_dataset(dataset).load(task_data.data), load_prepared(dataset)
    for split in ("train", "test"):
        for key, values in raw.split(split).items():
            np.testing.assert_array_equal(getattr(prepared, f"{split}_{key}"), values)
    assert prepared.manifest["source_shape"] == list(raw.train_source.shape[1:])
    assert prepared.manifest["splits"]["train"]["n_source"] == len(raw.train_source)


def test_the_manifest_and_spec_describe_the_source(task_data):
    paired, unpaired, sr = (load_prepared(name) for name in ("edges2digits", "digits2bold", "digits-sr2"))
    assert paired.manifest["tasks"] == ["unconditional", "class-conditional", "paired-translation"]
    assert unpaired.manifest["tasks"] == ["unconditional", "class-conditional", "unpaired-translation"]
    assert sr.manifest["scale"] == 2 and "scale" not in paired.manifest
    assert load_prepared("digits").manifest["pairing"] is None and load_prepared("digits").train_source is None
    assert unpaired.train_source_y is not None and paired.train_source_y is None
    assert data_spec(sr).source_shape == (1, 4, 4) and data_spec(sr).pairing == "paired"
    assert data_spec(unpaired).pairing == "unpaired" and data_spec(unpaired).n_classes == 10
    assert data_spec(load_prepared("ring8")).source_shape is None


def test_a_damaged_source_array_is_refused_by_its_sha256(task_data):
    path = prepared_dir("digits2bold") / "test.npz"
    arrays = dict(np.load(path))
    arrays["source_y"] = (arrays["source_y"] + 1) % 10  # other labels, same shapes: only the sha256 can tell
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(PreparedDataError, match=r"test.npz does not match the sha256 .*prepare@digits2bold"):
        load_prepared("digits2bold")


def test_the_unpaired_classifier_learns_both_domains(task_data):
    prepared = load_prepared("digits2bold")
    manifest = prepared.manifest
    assert manifest["classifier"]["n_test"] == len(prepared.test_y) + len(prepared.test_source_y)
    assert manifest["label_count"] == 10
    domains = {split: load_classifier_reference(prepared_dir("digits2bold"), reference_dir("digits2bold"),
                                                "digits2bold", manifest, split) for split in ("train", "train_source")}
    assert domains["train"].real.n == len(prepared.train_x) != domains["train_source"].real.n == len(prepared.train_source)
    np.testing.assert_array_equal(domains["train_source"].real_labels, prepared.train_source_y)
    paired = load_prepared("digits-sr2").manifest["classifier"]
    assert paired["n_test"] == len(load_prepared("digits-sr2").test_y) and paired["spec"]["image_shape"] == [1, 8, 8]


@pytest.mark.parametrize("dataset, task, keys", [
    ("ring8", "unconditional", {"x"}),
    ("digits", "class-conditional", {"x", "y"}),
    ("edges2digits", "paired-translation", {"x", "source"}),
    ("digits2bold", "unpaired-translation", {"x", "source"}),
    ("digits-sr2", "super-resolution", {"x", "source"}),
    ("digits2bold", "class-conditional", {"x", "y"}),
])
def test_training_arrays_give_each_task_its_keys(task_data, dataset, task, keys):
    prepared = load_prepared(dataset)
    arrays = training_arrays(prepared, task)
    assert set(arrays) == keys
    np.testing.assert_array_equal(arrays["x"], prepared.train_x)
    if "source" in keys:
        np.testing.assert_array_equal(arrays["source"], prepared.train_source)
        paired = len(arrays["source"]) == len(arrays["x"])
        assert paired == (task != "unpaired-translation")


@pytest.mark.parametrize("dataset, task, lacks, providers", [
    ("digits", "paired-translation", "input images paired row by row with x, of x's size",
     "edges2digits, edges2fashion-mnist, edges2mnist"),
    ("edges2digits", "unpaired-translation", "a second image domain drawn independently of x", "digits2bold"),
    ("digits2bold", "super-resolution", "low-resolution inputs paired with x",
     "digits-sr2, digits-sr4, fashion-mnist-sr2, fashion-mnist-sr4, mnist-sr2, mnist-sr4, photos-sr2, photos-sr4"),
    ("digits-sr2", "paired-translation", "input images paired row by row with x, of x's size", "edges2digits"),
    ("ring8", "class-conditional", "class labels (y)", "cifar10, digits"),
])
def test_training_arrays_refuse_a_task_in_one_line(task_data, dataset, task, lacks, providers):
    with pytest.raises(PreparedDataError) as raised:
        training_arrays(load_prepared(dataset), task)
    message = str(raised.value)
    assert "\n" not in message
    assert f"{dataset} cannot train a {task} family: it has no {lacks}" in message
    assert f"; datasets that have: {providers}" in message


def _write_image_folders(root: Path) -> None:
    """``image-folder-pairs`` with 6 pairs of names and ``image-folder-domains`` with 5 and 7 images of other sizes."""
    rng = np.random.default_rng(0)
    for dataset, counts, side in (("image-folder-pairs", (6, 6), 8), ("image-folder-domains", (5, 7), 12)):
        for sub, count in zip(("A", "B"), counts):
            (root / dataset / sub).mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, size=(side, side + 2, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / dataset / sub / f"{index}.png")


@pytest.fixture
def file_root(in_tmp):
    """A data root with small MNIST and Fashion-MNIST IDX files and the two A/, B/ folders."""
    root = in_tmp / "raw"
    for base in ("mnist", "fashion-mnist"):
        write_idx(root / base, n_train=40, n_test=20)
    _write_image_folders(root)
    return root


@pytest.mark.parametrize("dataset, tasks, pairing, source_shape, classifier", [
    ("inpaint-mnist", ["unconditional", "class-conditional", "paired-translation"], "paired", [1, 8, 8], True),
    ("inpaint-fashion-mnist", ["unconditional", "class-conditional", "paired-translation"], "paired", [1, 8, 8], True),
    ("digits2mnist", ["unconditional", "class-conditional", "unpaired-translation"], "unpaired", [1, 8, 8], True),
    ("mnist-sr4", ["unconditional", "class-conditional", "super-resolution"], "paired", [1, 2, 2], True),
    ("fashion-mnist-sr2", ["unconditional", "class-conditional", "super-resolution"], "paired", [1, 4, 4], True),
    ("image-folder-pairs", ["unconditional", "paired-translation"], "paired", [3, 8, 8], False),
    ("image-folder-domains", ["unconditional", "unpaired-translation"], "unpaired", [3, 8, 8], False),
])
def test_prepare_makes_each_task_dataset_of_files(file_root, dataset, tasks, pairing, source_shape, classifier):
    config = tiny_config(data={"root": str(file_root)})
    manifest = prepare(config, dataset)
    assert (manifest["tasks"], manifest["pairing"], manifest["source_shape"]) == (tasks, pairing, source_shape)
    assert ("classifier" in manifest) == classifier
    raw, prepared = get_dataset(dataset).load(config.data), load_prepared(dataset)
    for split in ("train", "test"):
        for key, values in raw.split(split).items():
            np.testing.assert_array_equal(getattr(prepared, f"{split}_{key}"), values)
    task = tasks[-1]
    arrays = training_arrays(prepared, task)
    assert set(arrays) == {"x", "source"} and (len(arrays["source"]) == len(arrays["x"])) == (pairing == "paired")
    if dataset == "digits2mnist":
        assert manifest["classifier"]["n_test"] == len(prepared.test_y) + len(prepared.test_source_y)
