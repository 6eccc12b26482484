"""The cached real-image Inception features: keyed by their protocol, never stale."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.features.inception import (STATUS_FILE, build_extractor, compute_real_features, load_real_features,
                                          real_protocol)
from pipeline.common.layout import features_dir, reference_dir
from pipeline.data.store import load_prepared
from pipeline.common.feature_cache import FeatureCacheError
from tests.conftest import tiny_config


def inception_config(**eval_values):
    return tiny_config(eval={"n_samples": 200, "batch_size": 100, "inception": True, "inception_samples": 10,
                             "inception_batch_size": 6, **eval_values})


def test_features_are_cached_per_protocol_and_stale_files_go(prepared):
    config = inception_config()
    first = compute_real_features(config, "digits")
    stamp = first.stat().st_mtime_ns
    assert compute_real_features(config, "digits") == first and first.stat().st_mtime_ns == stamp  # not recomputed
    second = compute_real_features(inception_config(inception_samples=11), "digits")
    assert second != first and not first.exists()
    cfg = inception_config(inception_samples=11).for_dataset("digits")
    protocol = real_protocol(load_prepared("digits"), cfg.eval, build_extractor(cfg.eval))
    real = load_real_features("digits", protocol)
    assert real.features.shape == (11, 2048) and np.isfinite(real.features).all()
    status = json.loads((features_dir("digits") / STATUS_FILE).read_text())
    assert status["inception"] is True and status["key"] == protocol["key"] and status["n_real"] == 11


def test_evaluate_refuses_features_of_another_protocol(prepared):
    compute_real_features(inception_config(), "digits")
    cfg = inception_config(inception_samples=12).for_dataset("digits")
    protocol = real_protocol(load_prepared("digits"), cfg.eval, build_extractor(cfg.eval))
    with pytest.raises(FeatureCacheError, match=r"dvc repro features@digits"):
        load_real_features("digits", protocol)


def test_disabled_or_2d_data_write_only_a_status(prepared):
    compute_real_features(inception_config(), "digits")
    compute_real_features(tiny_config(), "digits")
    assert not list(features_dir("digits").glob("inception-*.npz"))
    compute_real_features(inception_config(), "ring8")
    status = json.loads((features_dir("ring8") / STATUS_FILE).read_text())
    assert status == {"inception": False, "reason": "2-D points have no images"}


def test_below_2048_images_fid_is_left_out_and_the_other_metrics_stay(prepared, caplog):
    """FID's 2048×2048 covariances are singular with fewer images; KID, precision/recall and density/coverage
    remain valid, and the protocol says why FID is missing."""
    from pipeline.scoring.scorers.inception import InceptionScorer

    config = inception_config(inception_samples=12, kid_subsets=5, kid_subset_size=6)
    compute_real_features(config, "digits")
    cfg = config.for_dataset("digits").eval
    scorer = InceptionScorer.build(load_prepared("digits"), reference_dir("digits"), cfg, cfg.inception_samples)
    generated = load_prepared("digits").test_x[:12]
    with caplog.at_level("WARNING", logger="ganlab"):
        metrics = scorer.score(generated, {}, "digits test images")
    assert metrics["fid12"] is None
    assert "FID not computed: 12 real and 12 generated images" in caplog.text
    assert scorer.protocol()["fid"] == "not computed (N <= 2048 features)"
    for name in ("kid12", "kid_std12", "precision12", "recall12", "density12", "coverage12"):
        assert isinstance(metrics[name], float) and np.isfinite(metrics[name]), name
    assert 0.0 <= metrics["precision12"] <= 1.0 and metrics["kid_std12"] >= 0.0
