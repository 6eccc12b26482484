"""Stacked MNIST (``stacked-digits``, ``stacked-mnist``) and its 1,000-mode count: the stacking, the channels the
digit classifier learns, mode coverage and KL to uniform against hand computations and scipy, the stacked-modes
scorer's protocol and registration, and ``prepare`` with both classifiers."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from torch import nn

from pipeline.data.classifier import ClassifierFileError
from pipeline.data.stage import channel_images, distinct_images, prepare
from pipeline.data.store import load_prepared
from pipeline.datasets import get_dataset
from pipeline.datasets.catalogue.digits import load_digits
from pipeline.datasets.catalogue.stacked import COUNTS, stack_digits
from pipeline.datasets.registry import DatasetError
from pipeline.scoring.final_scorers import load_final_scorers
from pipeline.scoring.final_scorers.stacked_modes import STACKED_SAMPLES, StackedModeScorer, mode_coverage
from pipeline.scoring.registry import SCORERS, direction, is_metric, metric_base, scorers_for
from tests.conftest import tiny_config

MNIST = Path("/work/shared/datasets/mnist")
STACKED = {"place_values": [100, 10, 1], "digits": 10, "modes": 1000}


@pytest.fixture(scope="module")
def stacked_digits():
    """``stacked-digits`` at 8×8, and the digits split it is stacked from."""
    config = tiny_config()
    return get_dataset("stacked-digits").load(config.data), load_digits(config.data)


def _by_pixels(images: np.ndarray, labels: np.ndarray) -> dict[bytes, set[int]]:
    """Each distinct single-channel image's bytes → the labels it carries."""
    found: dict[bytes, set[int]] = {}
    for image, label in zip(images[:, 0], labels):
        found.setdefault(image.tobytes(), set()).add(int(label))
    return found


def test_each_channel_is_the_picked_image_and_the_label_reads_its_digits():
    images = np.arange(7, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 2, 2), np.float32)  # image j ≡ j
    labels = np.array([3, 1, 4, 1, 5, 9, 2])
    stacked, modes = stack_digits(images, labels, 50, np.random.default_rng(1))
    picks = np.random.default_rng(1).integers(7, size=(50, 3))
    assert stacked.shape == (50, 3, 2, 2)
    np.testing.assert_array_equal(stacked[:, :, 0, 0], picks)
    np.testing.assert_array_equal(modes, 100 * labels[picks[:, 0]] + 10 * labels[picks[:, 1]] + labels[picks[:, 2]])


def test_stacked_digits_channels_come_from_their_own_split_with_the_digit_the_label_says(stacked_digits):
    raw, digits = stacked_digits
    assert (len(raw.train_x), len(raw.test_x)) == COUNTS["stacked-digits"] == (25_000, 5_000)
    assert raw.train_x.shape[1:] == (3, 8, 8) and raw.train_x.dtype == np.float32
    assert len(np.unique(raw.train_y)) == 1000 and raw.train_y.max() == 999
    assert raw.info["stacked"]["source_digits"] == {"train": len(digits.train_x), "test": len(digits.test_x)}
    for x, y, source in ((raw.train_x, raw.train_y, _by_pixels(digits.train_x, digits.train_y)),
                         (raw.test_x, raw.test_y, _by_pixels(digits.test_x, digits.test_y))):
        for image, mode in zip(x[:2000], y[:2000]):
            for channel, digit in enumerate((mode // 100, mode // 10 % 10, mode % 10)):
                assert digit in source[image[channel].tobytes()]
    train_sources = _by_pixels(digits.train_x, digits.train_y)
    assert sum(image.tobytes() in train_sources for image in raw.test_x[:, 0]) < 0.05 * len(raw.test_x)


def test_the_channel_images_are_labelled_with_their_digits():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 2, 2)
    channels, digits = channel_images(x, np.array([472, 9]), STACKED)
    assert channels.shape == (6, 1, 2, 2)
    np.testing.assert_array_equal(channels[4, 0], x[1, 1])
    assert digits.tolist() == [4, 7, 2, 0, 0, 9]


def test_the_channel_classifier_sees_each_distinct_channel_image_once():
    x = np.array([[[[1.0]], [[2.0]], [[1.0]]], [[[2.0]], [[1.0]], [[3.0]]]], dtype=np.float32)  # (2, 3, 1, 1)
    # channel pairs (image, digit): (1, 5) (2, 4) (1, 5) | (2, 5) (1, 5) (3, 6): the same image with another digit is kept
    images, digits = distinct_images(*channel_images(x, np.array([545, 556]), STACKED))
    assert images[:, 0, 0, 0].tolist() == [1.0, 2.0, 2.0, 3.0] and digits.tolist() == [5, 4, 5, 6]


def test_mode_coverage_and_kl_by_hand_and_against_scipy():
    modes = np.array([0, 0, 0, 5, 5, 999])
    covered, kl = mode_coverage(modes, 1000)
    by_hand = 0.5 * math.log(0.5 * 1000) + (2 / 6) * math.log(2 / 6 * 1000) + (1 / 6) * math.log(1 / 6 * 1000)
    assert covered == 3
    assert kl == pytest.approx(by_hand, rel=1e-12)
    assert kl == pytest.approx(entropy(np.bincount(modes, minlength=1000), np.ones(1000)), rel=1e-12)
    assert mode_coverage(np.arange(1000), 1000) == (1000, pytest.approx(0.0, abs=1e-12))
    assert mode_coverage(np.full(26, 7), 1000) == (1, pytest.approx(math.log(1000)))


class IntensityDigits(nn.Module):
    """A stand-in channel classifier: the digit is round(10 × the channel's mean pixel)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(x.mean(dim=(1, 2, 3))[:, None] * 10 - torch.arange(10.0)) ** 2


def test_the_scorer_counts_the_modes_of_each_channel_triple():
    triples = np.array([[1, 2, 3]] * 30 + [[9, 0, 0]] * 20 + [[0, 0, 7]] * 10)
    images = np.repeat(np.repeat(triples[:, :, None, None] / 10, 4, axis=2), 4, axis=3).astype(np.float32)
    scorer = StackedModeScorer(60, tiny_config().eval, IntensityDigits(), "sha", 0.5, STACKED)
    scores = scorer.score(np.concatenate([images, images[:5]]), {}, "test")
    expected = entropy(np.bincount([123] * 30 + [900] * 20 + [7] * 10, minlength=1000), np.ones(1000))
    assert scores == {"stacked_modes60": 3, "stacked_kl60": pytest.approx(expected, rel=1e-12)}
    with pytest.raises(FloatingPointError):
        scorer.score(np.full_like(images, np.nan), {}, "test")


def test_the_scorer_is_registered_outside_training_with_its_own_sample_count():
    load_final_scorers()
    assert StackedModeScorer in SCORERS and StackedModeScorer.in_training == ()
    assert StackedModeScorer.sample_count(tiny_config().eval) == STACKED_SAMPLES == 26_000
    scorer = StackedModeScorer(STACKED_SAMPLES, tiny_config().eval, IntensityDigits(), "sha", 0.5, STACKED)
    names = scorer.metric_names()
    assert names == ["stacked_modes26k", "stacked_kl26k"]
    assert [metric_base(name) for name in names] == ["stacked_modes", "stacked_kl"]
    assert (direction("stacked_modes26k"), direction("stacked_kl26k")) == ("max", "min")
    assert is_metric("stacked_kl26k") and direction("modes26k") == "max" and direction("mode_kl26k") == "min"


@pytest.fixture(scope="module")
def prepared_stacked(tmp_path_factory):
    """``stacked-digits`` and ``digits`` prepared with the tiny classifier settings, in a project of their own."""
    folder = tmp_path_factory.mktemp("stacked")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        config = tiny_config()
        prepare(config, "stacked-digits")
        prepare(config, "digits")
        yield config, load_prepared("stacked-digits"), load_prepared("digits")


def test_prepare_trains_the_domain_and_the_channel_classifier(prepared_stacked):
    _, stacked, _ = prepared_stacked
    manifest = stacked.manifest
    assert manifest["shape"] == [3, 8, 8] and manifest["label_count"] == 1000
    assert manifest["classifier"]["spec"]["image_shape"] == [3, 8, 8]
    assert manifest["classifier"]["spec"]["n_classes"] == 1000 and manifest["classifier"]["n_test"] == 5000
    channel = manifest["channel_classifier"]
    assert channel["file"] == "channel_classifier.pt" and (stacked.directory / channel["file"]).is_file()
    assert channel["spec"]["image_shape"] == [1, 8, 8] and channel["spec"]["n_classes"] == 10
    assert channel["n_test"] == len(np.unique(load_digits(tiny_config().data).test_x, axis=0))
    assert 0.0 <= channel["test_accuracy"] <= 1.0
    assert manifest["stacked"]["n_train"] == 25_000 and manifest["stacked"]["place_values"] == [100, 10, 1]


def test_the_scorer_applies_to_stacked_data_only_and_scores_real_images(prepared_stacked):
    load_final_scorers()
    config, stacked, digits = prepared_stacked
    assert StackedModeScorer in scorers_for("unconditional", stacked, config.eval)
    assert StackedModeScorer not in scorers_for("unconditional", digits, config.eval)
    scorer = StackedModeScorer.build(stacked, Path("unused"), config.eval, 5000)
    scores = scorer.score(stacked.test_x, {}, "real")
    assert 1 <= scores["stacked_modes5k"] <= 1000 and scores["stacked_kl5k"] >= 0
    assert mode_coverage(stacked.test_y, 1000)[0] > 980, "the real test images cover nearly every mode"
    protocol = scorer.protocol()
    assert protocol["extractor_sha256"] == stacked.manifest["channel_classifier"]["sha256"]
    assert protocol["n_modes"] == 1000 and protocol["n_generated"] == 5000


def test_a_damaged_channel_classifier_is_refused_in_one_line(prepared_stacked):
    config, stacked, _ = prepared_stacked
    manifest = {**stacked.manifest, "channel_classifier": {**stacked.manifest["channel_classifier"], "sha256": "0"}}
    with pytest.raises(ClassifierFileError, match=r"channel_classifier.pt does not match its manifest; rebuild") as err:
        StackedModeScorer.build(dataclasses.replace(stacked, manifest=manifest), Path("x"), config.eval, 10)
    assert "\n" not in str(err.value)


def test_stacked_mnist_without_its_files_fails_in_one_line_and_downloads_nothing(tmp_path):
    with pytest.raises(DatasetError) as err:
        get_dataset("stacked-mnist").load(tiny_config(data={"root": str(tmp_path)}).data)
    message = str(err.value)
    assert message.startswith("stacked-mnist is stacked from mnist, which cannot be read: "
                              f"train-images-idx3-ubyte[.gz] not found in {tmp_path / 'mnist'}")
    assert "\n" not in message and not (tmp_path / "mnist").exists()


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"no MNIST files in {MNIST}")
def test_prepare_stacks_mnist_from_local_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = prepare(tiny_config(data={"paths": {"mnist": str(MNIST)}}), "stacked-mnist")
    assert manifest["splits"]["train"]["n"] == 128_000 and manifest["splits"]["test"]["n"] == 10_000
    assert manifest["stacked"]["source_digits"] == {"train": 60_000, "test": 10_000}
    assert manifest["classifier"]["spec"]["n_classes"] == 1000 and manifest["channel_classifier"]["n_test"] <= 10_000
