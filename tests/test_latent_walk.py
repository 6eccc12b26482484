"""Latent walks and the report's generator figures: slerp against White (2016)'s formula by hand, the figures of an
unconditional and a class-conditional generator (rows, columns, endpoints that are the latents' own samples), and
the phase boundaries the curves mark."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from analysis.latent_walk import slerp
from analysis.plots import changes, labelled_grid_png
from models.families import get_family, get_variant
from models.family import DataSpec, Hyperparameters
from models.illustration import Illustration
from pipeline.reporting import generator_figures as figures_module
from pipeline.reporting.generator_figures import WALK_ROWS, WALK_STEPS, illustrations


def test_slerp_of_orthogonal_unit_vectors_follows_the_quarter_circle():
    start, end = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    path = slerp(start, end, torch.tensor([0.0, 1 / 3, 0.5, 1.0]))[0]
    expected = [[1.0, 0.0], [math.cos(math.pi / 6), math.sin(math.pi / 6)], [2 ** -0.5, 2 ** -0.5], [0.0, 1.0]]
    assert torch.allclose(path, torch.tensor(expected), atol=1e-6)


def test_slerp_matches_the_formula_by_hand_and_keeps_the_norm_of_equal_norm_latents():
    rng = np.random.default_rng(0)
    q0, q1 = rng.normal(size=16), rng.normal(size=16)
    q1 *= np.linalg.norm(q0) / np.linalg.norm(q1)
    theta = np.arccos(q0 @ q1 / (np.linalg.norm(q0) * np.linalg.norm(q1)))
    t = 0.3
    by_hand = np.sin((1 - t) * theta) / np.sin(theta) * q0 + np.sin(t * theta) / np.sin(theta) * q1
    path = slerp(torch.tensor(q0[None]), torch.tensor(q1[None]), torch.tensor([t], dtype=torch.float64))[0, 0].numpy()
    np.testing.assert_allclose(path, by_hand, rtol=1e-10)
    assert np.linalg.norm(path) == pytest.approx(np.linalg.norm(q0))
    linear = (1 - t) * q0 + t * q1
    assert np.linalg.norm(linear) < np.linalg.norm(path), "the straight line cuts inside the sphere"


def test_slerp_of_parallel_latents_is_the_straight_line():
    start = torch.tensor([[1.0, 2.0]])
    path = slerp(start, 3 * start, torch.tensor([0.0, 0.5, 1.0]))[0]
    assert torch.allclose(path, torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]))


def test_phase_boundaries_are_the_steps_where_the_column_changes():
    history = pd.DataFrame({"step": [0, 50, 100, 150, 200], "resolution": [4, 4, 8, 8, 16]})
    assert changes(history, "resolution") == [100, 200]
    assert changes(history, "stage") == []


def _generators(variant: str, data: DataSpec) -> dict:
    family = get_family(get_variant(variant).family)
    settings = family.resolve(get_variant(variant), Hyperparameters(), data, 1)
    torch.manual_seed(0)
    weights = family.build_sampler(settings, data).state_dict()
    return {"family": family.name, "variant": variant, "settings": dataclasses.asdict(settings),
            "data": dataclasses.asdict(data), "final": {"generator": weights}, "best": {"generator": weights}}


@pytest.mark.parametrize("n_classes", [0, 10])
def test_an_unconditional_generator_has_one_walk_whose_ends_are_its_latents_samples(n_classes):
    """Labelled data (digits) or not, an unconditional generator is asked for no labels."""
    generators = _generators("non-saturating", DataSpec("images", (1, 8, 8), n_classes=n_classes))
    (walk,) = illustrations(generators)
    assert walk.images.shape == (WALK_ROWS, WALK_STEPS, 1, 8, 8) and not walk.row_labels
    sampler = figures_module.load_sampler(generators, "final")
    rng = torch.Generator().manual_seed(figures_module.FIGURE_SEED)
    start = sampler.family.sample_noise(WALK_ROWS, sampler.latent_dim, rng)
    end = sampler.family.sample_noise(WALK_ROWS, sampler.latent_dim, rng)
    with torch.no_grad():
        assert torch.allclose(walk.images[:, 0], sampler.module(start), atol=1e-6)
        assert torch.allclose(walk.images[:, -1], sampler.module(end), atol=1e-6)


def test_a_class_conditional_generator_walks_per_class_and_shows_one_latent_across_the_classes(tmp_path, monkeypatch):
    data = DataSpec("images", (1, 8, 8), n_classes=10)
    walk, classes = illustrations(_generators("cgan", data))
    assert walk.row_labels == ("class 0", "class 1", "class 2", "class 3")
    assert classes.images.shape == (WALK_ROWS, 10, 1, 8, 8)
    assert classes.column_labels == tuple(str(c) for c in range(10))
    assert not torch.allclose(classes.images[0, 0], classes.images[0, 1]), "the label changes the sample"

    monkeypatch.setattr(figures_module, "generators_file", lambda *_: tmp_path / "generators.pt")
    torch.save(_generators("cgan", data), tmp_path / "generators.pt")
    written = figures_module.generator_figures("digits", "cgan", 0, tmp_path / "figures")
    assert [figure.path.name for figure in written] == ["walk-cgan-seed0.png", "classes-cgan-seed0.png"]
    assert all(figure.path.stat().st_size > 0 for figure in written)
    monkeypatch.setattr(figures_module, "generators_file", lambda *_: tmp_path / "absent.pt")
    assert figures_module.generator_figures("digits", "cgan", 1, tmp_path / "figures") == []


def test_a_labelled_grid_is_drawn_and_an_illustration_refuses_labels_that_do_not_fit(tmp_path):
    images = np.zeros((2, 3, 3, 8, 8), dtype=np.float32)
    path = labelled_grid_png(images, tmp_path / "grid.png", "title", ("a", "b"), ("x", "y", "z"))
    assert np.asarray(Image.open(path)).ndim == 3
    with pytest.raises(ValueError, match="2 rows but 3 row labels"):
        Illustration("grid", "t", torch.zeros(2, 3, 1, 8, 8), ("a", "b", "c"))
    with pytest.raises(ValueError, match="letters, digits"):
        Illustration("a grid", "t", torch.zeros(2, 3, 1, 8, 8))
