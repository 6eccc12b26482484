"""params.yaml validation: errors name the key, the value and what is allowed, before any compute."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, load, parse
from tests.conftest import PROJECT


def test_the_project_params_file_is_valid():
    config = load(PROJECT / "params.yaml")
    assert config.benchmark.datasets == ("ring8", "digits")
    assert len(config.benchmark.variants) == 6
    assert config.for_dataset("ring8").model.width == 64
    assert config.for_dataset("digits").model.width == 32


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"train": {"lr_gg": 1e-4}}, r"unknown key train\.lr_gg; allowed keys in 'train': steps, batch_size"),
        ({"trian": {}}, r"unknown section 'trian'"),
        ({"train": {"lr_g": -1.0}}, r"train\.lr_g = -1\.0 is out of range; expected > 0"),
        ({"train": {"steps": 1.5}}, r"train\.steps = 1\.5 has type float; expected int"),
        ({"train": {"steps": "many"}}, r"train\.steps = 'many' has type str"),
        ({"train": {"betas": [0.5]}}, r"train\.betas = \[0\.5\] must have exactly 2 entries"),
        ({"train": {"betas": [0.5, 1.0]}}, r"train\.betas\[1\] = 1\.0 is out of range; expected >= 0\.0 and < 1\.0"),
        ({"data": {"image_size": 12}}, r"data\.image_size = 12 is not allowed; expected one of 8, 16, 32, 64"),
        ({"data": {"download": "yes"}}, r"data\.download = 'yes' must be true or false"),
        ({"benchmark": {"variants": ["vanilla"]}}, r"benchmark\.variants\[0\] = 'vanilla' is not allowed; expected one of (.*, )?minimax, non-saturating, wgan"),
        ({"benchmark": {"datasets": []}}, r"benchmark\.datasets must not be empty"),
        ({"benchmark": {"seeds": [0, 0]}}, r"lists an entry twice"),
        ({"model": {"norm": "group"}}, r"model\.norm = 'group' is not allowed"),
        ({"overrides": {"mnist2": {}}}, r"overrides\.mnist2 names an unknown dataset"),
        ({"overrides": {"ring8": {"ray": {}}}}, r"overrides\.ring8\.ray cannot be overridden"),
        ({"overrides": {"ring8": {"train": {"stepz": 3}}}}, r"\(overrides\.ring8\): unknown key train\.stepz"),
        ({"eval": {"n_samples": 200, "batch_size": 500}}, r"eval\.batch_size \(500\) exceeds eval\.n_samples \(200\)"),
        ({"train": []}, r"section 'train' must be a mapping"),
    ],
)
def test_bad_params_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse(raw)


def test_numbers_in_yaml_exponent_form_are_floats(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr_g: 1e-4\n  lr_d: 3\n")
    config = load(path)
    assert config.train.lr_g == pytest.approx(1e-4)
    assert config.train.lr_d == 3.0


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)


def test_config_is_frozen():
    import dataclasses

    config = parse({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.steps = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train = None  # type: ignore[misc]


def test_overrides_merge_over_shared_sections():
    config = parse({"train": {"steps": 10, "batch_size": 8}, "overrides": {"ring8": {"train": {"steps": 99}}}})
    assert config.for_dataset("ring8").train.steps == 99
    assert config.for_dataset("ring8").train.batch_size == 8
    assert config.for_dataset("digits").train.steps == 10
