"""The report's figure of a translation run (:mod:`pipeline.reporting.translation_figures`): held-out inputs,
outputs and targets for paired and super-resolution data, A, A→B, A→B→A for an unpaired translation, drawn from the
untrained baselines (whose outputs are known exactly: the input itself, its bicubic upsampling)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from analysis.bicubic import bicubic_upsample
from models.families import get_family, get_variant
from models.family import DataSpec, Hyperparameters
from pipeline.data.store import PreparedData
from pipeline.reporting.translation_figures import COLUMNS, as_shown, translation_figure


def _generators(family_name: str, data: DataSpec) -> dict:
    family = get_family(family_name)
    settings = family.resolve(get_variant(family_name), Hyperparameters(), data, 1)
    weights = {name: {} for name in family.sampler_names()}
    return {"family": family_name, "settings": dataclasses.asdict(settings), "data": dataclasses.asdict(data),
            "final": weights, "best": weights}


def _prepared(x: np.ndarray, source: np.ndarray, pairing: str) -> PreparedData:
    return PreparedData("toy", "images", x, None, x, None, {"pairing": pairing}, Path("."), source, source)


def _images(n: int, channels: int, side: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, channels, side, side)).astype(np.float32)


def test_super_resolution_rows_are_the_enlarged_input_its_output_and_the_target():
    x, low = _images(10, 3, 8, 0), _images(10, 3, 4, 1)
    figure = translation_figure(_generators("bicubic", DataSpec("images", (3, 8, 8), 0, (3, 4, 4), "paired")),
                                _prepared(x, low, "paired"))
    assert figure.images.shape == (3, COLUMNS, 3, 8, 8) and figure.row_labels == ("input", "output", "target")
    np.testing.assert_array_equal(figure.images[0].numpy(), low[:COLUMNS].repeat(2, axis=-2).repeat(2, axis=-1))
    np.testing.assert_array_equal(figure.images[1].numpy(), bicubic_upsample(low[:COLUMNS], 2))
    np.testing.assert_array_equal(figure.images[2].numpy(), x[:COLUMNS])


def test_an_unpaired_translation_with_a_reverse_sampler_shows_the_round_trip():
    a, b = _images(5, 1, 8, 2), _images(7, 1, 8, 3)
    figure = translation_figure(_generators("identity", DataSpec("images", (1, 8, 8), 10, (1, 8, 8), "unpaired")),
                                _prepared(b, a, "unpaired"))
    assert figure.row_labels == ("A (input)", "A→B", "A→B→A") and figure.images.shape == (3, 5, 1, 8, 8)
    for row in range(3):  # identity both ways: every row is the input
        np.testing.assert_array_equal(figure.images[row].numpy(), a)


def test_grey_rows_beside_colour_ones_are_shown_as_three_equal_channels():
    grey = _images(2, 1, 4, 4)
    shown = as_shown(grey, 3, 8)
    assert shown.shape == (2, 3, 8, 8)
    for channel in range(3):
        np.testing.assert_array_equal(shown[:, channel, ::2, ::2], grey[:, 0])


def test_a_family_of_another_task_has_no_translation_figure():
    family, data = "gan", DataSpec("images", (1, 8, 8), 10)
    family_object = get_family(family)
    settings = family_object.resolve(get_variant("non-saturating"), Hyperparameters(), data, 1)
    module = family_object.build_sampler(settings, data)
    generators = {"family": family, "settings": dataclasses.asdict(settings), "data": dataclasses.asdict(data),
                  "final": {"generator": module.state_dict()}}
    assert translation_figure(generators, _prepared(_images(2, 1, 8, 5), None, "")) is None
