"""ganlab's FID, KID, IS, precision/recall and density/coverage against the reference packages.

pytorch-fid, torch-fidelity and prdc are test-only dependencies; none of
their network weights are needed for these functions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.density_coverage import density_coverage
from analysis.frechet import FeatureStats, frechet_distance
from analysis.inception_score import inception_score
from analysis.kid import kernel_inception_distance, polynomial_kernel
from analysis.precision_recall import precision_recall


@pytest.fixture
def features() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 32)).astype(np.float32)
    fake = (rng.normal(size=(300, 32)) * 1.3 + 0.2).astype(np.float32)
    return real, fake


def test_fid_agrees_with_pytorch_fid(features):
    from pytorch_fid.fid_score import calculate_frechet_distance

    real, fake = features
    a, b = FeatureStats.of(real), FeatureStats.of(fake)
    reference = calculate_frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero(features):
    stats = FeatureStats.of(features[0])
    assert abs(frechet_distance(stats, stats)) < 1e-6


def test_kid_agrees_with_torch_fidelity(features):
    from torch_fidelity.metric_kid import kid_features_to_metric

    real, fake = features
    ours = kernel_inception_distance(real, fake, subsets=20, subset_size=200, seed=7)
    reference = kid_features_to_metric(torch.as_tensor(real), torch.as_tensor(fake), kid_subsets=20,
                                       kid_subset_size=200, rng_seed=7, verbose=False, kid_kernel="poly",
                                       kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    assert ours.mean == pytest.approx(reference["kernel_inception_distance_mean"], rel=1e-6)
    assert ours.std == pytest.approx(reference["kernel_inception_distance_std"], rel=1e-6)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_the_kernel_is_cubic():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    kid = kernel_inception_distance(x, y, subsets=50, subset_size=100)
    assert abs(kid.mean) < 3 * kid.std / np.sqrt(50) + 1e-3
    assert polynomial_kernel(np.ones((1, 4)), np.full((1, 4), 2.0))[0, 0] == pytest.approx((8 / 4 + 1) ** 3)


def test_inception_score_agrees_with_torch_fidelity():
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = np.random.default_rng(2).normal(size=(250, 10)) * 3
    reference = isc_features_to_metric(torch.as_tensor(logits), splits=10, shuffle=True, rng_seed=2020)
    ours = inception_score(logits, splits=10, seed=2020)
    assert ours.mean == pytest.approx(reference["inception_score_mean"], rel=1e-6)
    assert ours.std == pytest.approx(reference["inception_score_std"], rel=1e-6)


def test_inception_score_bounds_by_hand():
    confident_and_balanced = np.eye(10).repeat(10, axis=0) * 100.0
    assert inception_score(confident_and_balanced, splits=1).mean == pytest.approx(10.0, rel=1e-6)
    assert inception_score(np.zeros((100, 10)), splits=10).mean == pytest.approx(1.0)


def test_precision_recall_density_coverage_agree_with_prdc(features):
    from prdc import compute_prdc

    real, fake = features
    reference = compute_prdc(real, fake, nearest_k=3)
    ours = {**precision_recall(real, fake, k=3), **density_coverage(real, fake, k=3)}
    for name in ("precision", "recall", "density", "coverage"):
        assert ours[name] == pytest.approx(float(reference[name]), abs=1e-9), name


def test_identical_sets_have_full_precision_and_recall(features):
    real = features[0]
    scores = precision_recall(real, real, k=3)
    assert scores == {"precision": 1.0, "recall": 1.0}
