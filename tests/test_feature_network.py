"""The content-addressed feature network a family may ask for (tests/families/toy_feature_matching.py): the
dataset's domain classifier, checked against its manifest's sha256, frozen, and part of every run's key."""

from __future__ import annotations

import pytest
import torch

import tests.families.toy_feature_matching  # noqa: F401  (registers the family)
from pipeline.common.family_code import code_digest
from pipeline.config import ConfigError
from pipeline.data.classifier import CLASSIFIER_FILE, ClassifierFileError, load_classifier
from pipeline.data.store import load_prepared
from pipeline.training.run_cache import run_key
from tests.conftest import tiny_config
from tests.test_step import _training

CONFIG = tiny_config(benchmark={"datasets": ["digits"], "variants": ["toy-feature-matching"]},
                     train={"steps": 60, "log_every": 20, "eval_every": 60, "checkpoint_every": 60, "lr_g": 5e-3})


def test_the_family_gets_the_frozen_domain_classifier_and_learns_through_it(prepared):
    training = _training(CONFIG, "toy-feature-matching", "digits")
    network = training.model.features
    prepared_digits = load_prepared("digits")
    classifier = load_classifier(prepared_digits.directory / CLASSIFIER_FILE, "digits")
    images = torch.as_tensor(prepared_digits.test_x[:16])
    torch.testing.assert_close(network(images), classifier.features(images))
    before = {k: v.clone() for k, v in network.state_dict().items()}
    history = training.run()
    assert not network.training and not any(p.requires_grad for p in network.parameters())
    for key, value in network.state_dict().items():
        assert torch.equal(value, before[key]), f"{key}: the feature network is frozen"
    assert history[-1]["loss_g"] < history[0]["loss_g"], "G matches the features better than at the start"


def test_the_classifiers_sha256_is_part_of_the_run_key(prepared):
    training = _training(CONFIG, "toy-feature-matching", "digits")
    manifest = load_prepared("digits").manifest
    other = {**manifest, "classifier": {**manifest["classifier"], "sha256": "0" * 64}}
    code = code_digest("toy-feature-matching")
    assert run_key(training.job, manifest, code) != run_key(training.job, other, code)


def test_a_classifier_that_is_not_the_manifests_is_refused(prepared):
    path = load_prepared("digits").directory / CLASSIFIER_FILE
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ClassifierFileError, match="does not match its manifest"):
        _training(CONFIG, "toy-feature-matching", "digits")


def test_params_refuse_the_family_on_data_without_a_classifier():
    with pytest.raises(ConfigError, match=r"ring8 × toy-feature-matching: family toy-feature-matching trains with the "
                                          r"feature network \(the domain classifier\), which only labelled image data"):
        tiny_config(benchmark={"datasets": ["ring8"], "variants": ["toy-feature-matching"]})
