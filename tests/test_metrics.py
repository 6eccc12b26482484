"""Metrics against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.class_metrics import class_scores
from analysis.frechet import FeatureStats, frechet_distance
from analysis.mode_metrics import mode_scores
from pipeline.datasets.catalogue.mixtures import mixture_modes, sample_mixture


def test_real_ring_samples_cover_every_mode():
    points, _ = sample_mixture("ring8", 2500, seed=1)
    centres, std = mixture_modes("ring8")
    scores = mode_scores(points, centres, std)
    assert scores.modes_covered == scores.modes_strict == 8
    assert scores.high_quality > 0.98  # 3σ in 2-D holds 1 - exp(-4.5) ≈ 98.9 % of a Gaussian
    assert scores.kl_to_uniform < 0.01


def test_collapsed_samples_cover_one_mode():
    centres, std = mixture_modes("grid25")
    collapsed = np.repeat(centres[:1], 100, axis=0)
    scores = mode_scores(collapsed, centres, std)
    assert (scores.modes_covered, scores.modes_strict, scores.n_modes, scores.high_quality) == (1, 1, 25, 1.0)
    assert scores.kl_to_uniform == pytest.approx(math.log(25))


def test_mode_counting_rules_by_hand():
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    samples = np.array([[0.0, 0.0]] * 3 + [[10.0, 0.05]] * 1 + [[5.0, 5.0]] * 4)  # last 4 are far from both
    scores = mode_scores(samples, centres, std=0.1, sigmas=3.0, min_samples=2)
    assert scores.modes_strict == 1, "3 high-quality samples at the first mode, 1 < 2 at the second"
    assert scores.modes_covered == 2, "the papers' rule: one high-quality sample covers the second mode"
    assert scores.high_quality == pytest.approx(4 / 8)
    p = np.array([3 / 4, 1 / 4])
    assert scores.kl_to_uniform == pytest.approx(float(np.sum(p * np.log(p * 2))))
    with pytest.raises(ValueError, match="NaN"):
        mode_scores(np.array([[np.nan, 0.0]]), centres, 0.1)


def test_a_mode_with_exactly_the_threshold_count_is_covered():
    """Both rules say "at least" (VEEGAN / PacGAN: ≥ 1 high-quality sample; ganlab's strict rule: ≥ min_samples):
    a mode holding exactly 1 sample is covered, exactly min_samples = 5 is strictly covered, 4 is not."""
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = np.repeat(centres, [5, 4, 1], axis=0)
    scores = mode_scores(samples, centres, std=0.1, min_samples=5)
    assert (scores.modes_covered, scores.modes_strict) == (3, 1)


def test_the_papers_rule_on_a_point_set_with_a_known_answer():
    """ring8 modes 0-3 get 50 high-quality samples each, mode 4 one, mode 5 five, modes 6-7 none (their samples
    lie outside 3σ, and a point half-way between two modes is nobody's): VEEGAN and PacGAN count 6 modes, the
    strict rule (20 of 2,500) 4."""
    centres, std = mixture_modes("ring8")
    rng = np.random.default_rng(0)
    near = [np.repeat(centres[i:i + 1], n, axis=0) + rng.normal(0, std / 2, (n, 2)) for i, n in
            ((0, 50), (1, 50), (2, 50), (3, 50), (4, 1), (5, 5))]
    far = [centres[6] + 10 * std, centres[7] * 0.5]
    scores = mode_scores(np.concatenate(near + [np.array(far)]), centres, std)
    assert (scores.modes_covered, scores.modes_strict) == (6, 4)


def test_frechet_distance_between_gaussians_matches_the_closed_form():
    """For diagonal covariances, d² = ‖μ₁-μ₂‖² + Σᵢ (σ₁ᵢ - σ₂ᵢ)²."""
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    a = FeatureStats(mu1, np.diag(var1), n=10**6)
    b = FeatureStats(mu2, np.diag(var2), n=10**6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_with_full_covariances_matches_scipy_formula():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 5)), rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5)) + 0.5
    a, b = FeatureStats.of(x), FeatureStats.of(y)
    expected = np.sum((a.mu - b.mu) ** 2) + np.trace(a.sigma + b.sigma - 2 * sqrtm(a.sigma @ b.sigma).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_feature_stats_and_fid_match_numpy_and_scipy_on_raw_features():
    """Heusel et al. (2017), Eq. 6 on the unbiased estimates (pytorch-fid: np.mean, np.cov with its default ddof=1):
    mean, covariance and d² = ‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2 (Σ₁Σ₂)^½) from the raw features with numpy and
    scipy.linalg.sqrtm. Few samples (8 of 3-d features) make ddof matter: 1/(n-1) and 1/n differ by 14 %."""
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 3)) @ rng.normal(size=(3, 3)) + 1.0
    mu_x, mu_y, cov_x, cov_y = x.mean(axis=0), y.mean(axis=0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    a, b = FeatureStats.of(x), FeatureStats.of(y)
    np.testing.assert_allclose(a.mu, mu_x, rtol=1e-12)
    np.testing.assert_allclose(a.sigma, cov_x, rtol=1e-12)
    np.testing.assert_allclose(b.sigma, (y - mu_y).T @ (y - mu_y) / 7, rtol=1e-12)
    expected = np.sum((mu_x - mu_y) ** 2) + np.trace(cov_x + cov_y - 2 * sqrtm(cov_x @ cov_y).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_feature_stats_refuse_rank_deficient_or_non_finite_input():
    with pytest.raises(ValueError, match="full-rank"):
        FeatureStats.of(np.zeros((4, 8)))
    with pytest.raises(ValueError, match="NaN"):
        FeatureStats.of(np.full((20, 2), np.nan))


def test_class_scores_by_hand():
    real = np.array([0, 1, 2, 3] * 25)
    predicted = np.array([0] * 60 + [1] * 30 + [2] * 10)
    scores = class_scores(predicted, real, 4, min_samples=20)
    p = np.array([0.6, 0.3, 0.1])
    assert scores["classes_covered"] == 2
    assert scores["class_kl"] == pytest.approx(float(np.sum(p * np.log(p / 0.25))))
