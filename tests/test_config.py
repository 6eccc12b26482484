"""params.yaml validation: errors name the key, the value and what is allowed, before any compute."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, load, parse
from tests.conftest import PROJECT


def test_the_project_params_file_is_valid():
    config = load(PROJECT / "params.yaml")
    assert config.benchmark.datasets == ("digits",) and config.data.datasets == (
        "ring8", "grid25", "digits", "stacked-digits", "edges2digits", "inpaint-digits", "digits2bold", "digits-sr2",
        "photos-sr2")
    assert [suite.datasets for suite in config.defined_suites()] == [
        ("digits",), ("ring8",), ("digits",), ("stacked-digits", "digits"), ("ring8", "grid25"),
        ("edges2digits", "inpaint-digits"), ("digits2bold",), ("digits-sr2", "photos-sr2")]
    assert len(config.benchmark.variants) == 6 and config.benchmark.suites == ()
    assert config.for_dataset("ring8").model.width == 64
    assert config.for_dataset("digits").model.width == 32 == config.for_dataset("stacked-digits").model.width


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


def _load_error(tmp_path, text: str | bytes) -> str:
    """The one-line message ``load`` refuses ``text`` with."""
    path = tmp_path / "params.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as raised:
        load(path)
    message = str(raised.value)
    assert "\n" not in message and "^" not in message, message
    return message.replace(str(path), "params.yaml")


@pytest.mark.parametrize("text, key, line, first", [
    ("train:\n  steps: 10\neval:\n  n_samples: 200\ntrain:\n  lr_g: 0.001\n", "train", 5, 1),
    ("train:\n  steps: 10\n  lr_g: 0.001\n  steps: 20\n", "train.steps", 4, 2),
    ("overrides:\n  ring8:\n    train: {steps: 3, steps: 4}\n", "overrides.ring8.train.steps", 3, 3),
    ("benchmark:\n  seeds: [0]\n  seeds: [0, 1]\n", "benchmark.seeds", 3, 2),
])
def test_a_key_given_twice_is_refused_as_dvc_refuses_it(tmp_path, text, key, line, first):
    """PyYAML keeps the last of two equal keys, silently; DVC refuses the file ("duplicate key")."""
    expected = (f"params.yaml, line {line}: duplicate key {key} (also on line {first}); merge or delete one of them: "
                "DVC refuses a params file with a duplicate key")
    assert _load_error(tmp_path, text) == expected


def test_merge_keys_and_aliases_are_not_duplicates(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train: &shared {steps: 10, batch_size: 8}\noverrides:\n"
                    "  ring8:\n    train:\n      <<: *shared\n      steps: 99\n  digits:\n    train: *shared\n")
    config = load(path)
    assert config.for_dataset("ring8").train.steps == 99 and config.for_dataset("digits").train.steps == 10


@pytest.mark.parametrize("text, message", [
    ("train: [unclosed\n", "params.yaml, line 2, column 1: not valid YAML: expected ',' or ']', but got '<stream end>' "
                           "(while parsing a flow sequence at line 1, column 8); fix the YAML there"),
    ("train:\n  steps: 10\n lr_g: 1\n", "params.yaml, line 3, column 2: not valid YAML: expected <block end>, but "
                                        "found '<block mapping start>' (while parsing a block mapping at line 1, "
                                        "column 1)"),
    ("train:\n\tsteps: 10\n", "params.yaml, line 2, column 1: not valid YAML: found character '\\t' that cannot start "
                              "any token (while scanning for the next token)"),
    ("train: {steps: 1, a\x00}\n", "params.yaml, line 1, column 20: not valid YAML: special characters are not allowed "
                                  "(character #x0000); delete it"),
    (b"train:\n  steps: \xff\n", "params.yaml is not UTF-8 text (byte 16: invalid start byte); save it as UTF-8"),
])
def test_invalid_yaml_is_one_line_with_its_line_and_column(tmp_path, text, message):
    assert _load_error(tmp_path, text).startswith(message)


@pytest.mark.parametrize("raw", [{"trian\nx": {}}, {"train": {"lr\ng": 1}}, {"overrides": {"ring\n8": {}}},
                                 {"overrides": {"ring8": {"tr\nain": {}}}}, {"families": {"g\nan": {}}}])
def test_a_key_with_a_line_break_is_shown_escaped_on_one_line(raw):
    with pytest.raises(ConfigError) as raised:
        parse(raw)
    assert "\n" not in str(raised.value) and "\\n" in str(raised.value), str(raised.value)
