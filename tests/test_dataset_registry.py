"""The dataset registry: lookups, refused declarations, config and CLI taking their names from it, and a dataset
registered by a test module usable end to end without an edit elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

import tests.datasets.toy_negatives  # noqa: F401  (registers the toy-negatives dataset)
from pipeline.cli import build_parser
from pipeline.config import ConfigError
from pipeline.data.stage import prepare
from pipeline.data.store import data_spec, load_prepared, training_arrays
from pipeline.datasets import dataset_names, get_dataset
from pipeline.datasets.registry import Dataset, DatasetError, register_dataset
from tests.conftest import tiny_config

BUILT_IN = ("cifar10", "digits", "digits-sr2", "digits-sr4", "digits2bold", "digits2mnist", "edges2digits",
            "edges2fashion-mnist", "edges2mnist", "fashion-mnist", "fashion-mnist-sr2", "fashion-mnist-sr4", "grid25",
            "image-folder", "image-folder-domains", "image-folder-pairs", "inpaint-digits", "inpaint-fashion-mnist",
            "inpaint-mnist", "mnist", "mnist-sr2", "mnist-sr4", "photos-sr2", "photos-sr4", "ring8")


def test_the_catalogue_registers_every_built_in_dataset():
    assert set(BUILT_IN) <= set(dataset_names())
    assert get_dataset("digits2bold").pairing == "unpaired" and get_dataset("digits-sr4").scale == 4
    assert get_dataset("ring8").kind == "points" and get_dataset("cifar10").channels == 3


def test_an_unknown_dataset_lists_the_registered_ones():
    with pytest.raises(DatasetError) as raised:
        get_dataset("mnist2")
    assert str(raised.value).startswith("unknown dataset 'mnist2'; registered datasets: cifar10, digits, ")
    assert all(name in str(raised.value) for name in BUILT_IN)


@pytest.mark.parametrize("declaration, problem", [
    (dict(name="ring8", kind="points", tasks=("unconditional",)), "dataset 'ring8' is already registered"),
    (dict(name="t1", kind="voxels", tasks=("unconditional",)), "has kind 'voxels'; kinds: points, images"),
    (dict(name="t2", kind="images", tasks=("inpainting",)), "serves unknown tasks ['inpainting']"),
    (dict(name="t3", kind="images", tasks=("class-conditional",)), "serves class-conditional, which needs class labels"),
    (dict(name="t4", kind="images", tasks=("super-resolution",), provides=("x", "source"), pairing="paired"),
     "serves super-resolution, which needs low-resolution inputs"),
    (dict(name="t5", kind="images", tasks=("unconditional",), provides=("x", "source")), "pairing None and scale"),
])
def test_an_inconsistent_declaration_is_refused(declaration, problem):
    with pytest.raises(ValueError) as raised:
        register_dataset(Dataset(loader=lambda data: None, **declaration))
    assert problem in str(raised.value)
    assert declaration["name"] == "ring8" or declaration["name"] not in dataset_names()


@pytest.mark.parametrize("section", [{"benchmark": {"datasets": ["digits", "mnist2"]}}, {"tune": {"dataset": "mnist2"}},
                                     {"data": {"paths": {"mnist2": "somewhere"}}}])
def test_config_refuses_an_unknown_dataset_naming_the_registered_ones(section):
    with pytest.raises(ConfigError) as raised:
        tiny_config(**section)
    assert "'mnist2' is not allowed; expected one of cifar10, digits, digits-sr2" in str(raised.value)


def test_overrides_of_an_unknown_dataset_name_the_registered_ones():
    with pytest.raises(ConfigError, match=r"overrides\.mnist2 names an unknown dataset; known: cifar10, digits, "):
        tiny_config(overrides={"mnist2": {"train": {"steps": 3}}})


def test_the_provisional_spec_of_each_kind_of_dataset():
    data = tiny_config(data={"image_size": 16}).data
    assert get_dataset("ring8").provisional(data).shape == (2,)
    unpaired = get_dataset("digits2bold").provisional(data)
    assert (unpaired.shape, unpaired.source_shape, unpaired.pairing, unpaired.n_classes) == ((1, 16, 16), (1, 16, 16),
                                                                                              "unpaired", 10)
    photos = get_dataset("photos-sr4").provisional(data)
    assert (photos.shape, photos.source_shape, photos.pairing) == ((3, 16, 16), (3, 4, 4), "paired")
    folders = {name: get_dataset(name).provisional(data) for name in ("image-folder-pairs", "image-folder-domains")}
    assert {name: (spec.shape, spec.source_shape, spec.pairing, spec.n_classes) for name, spec in folders.items()} == {
        "image-folder-pairs": ((3, 16, 16), (3, 16, 16), "paired", 0),
        "image-folder-domains": ((3, 16, 16), (3, 16, 16), "unpaired", 0)}
    assert get_dataset("mnist-sr4").provisional(data).source_shape == (1, 4, 4)


def test_a_dataset_of_a_test_module_is_usable_without_edits_elsewhere(in_tmp):
    config = tiny_config(benchmark={"datasets": ["toy-negatives"]})
    assert build_parser().parse_args(["prepare", "--dataset", "toy-negatives"]).dataset == "toy-negatives"
    manifest = prepare(config, "toy-negatives")
    assert manifest["tasks"] == ["unconditional", "paired-translation"] and "classifier" not in manifest
    prepared = load_prepared("toy-negatives")
    np.testing.assert_array_equal(prepared.train_source, -prepared.train_x)
    arrays = training_arrays(prepared, "paired-translation")
    assert set(arrays) == {"x", "source"}
    spec = data_spec(prepared)
    assert (spec.source_shape, spec.pairing) == ((1, 8, 8), "paired")
