"""Suites (pipeline/config/suites.py): named comparisons beside the main one, each its datasets × variants × seeds
and training budget; params refuse what cannot run."""

from __future__ import annotations

import pytest

import tests.families.toy_conditional  # noqa: F401  (registers toy-cgan, a class-conditional family)
from pipeline.config import ConfigError, parse

SUITES = {"conditional": {"title": "Conditional toys", "task": "class-conditional", "datasets": ["digits"],
                          "variants": ["toy-cgan"], "seeds": [0, 1], "train": {"steps": 300}},
          "later": {"datasets": ["ring8"], "variants": ["hinge"]}}


def _config(**benchmark):
    return parse({"benchmark": {"datasets": ["ring8"], "variants": ["hinge"], "seeds": [0], **benchmark},
                  "suites": SUITES})


def test_the_running_suites_are_the_main_one_and_those_benchmark_names():
    config = _config(suites=["conditional"])
    assert [suite.name for suite in config.running_suites()] == ["benchmark", "conditional"]
    assert config.running_suites()[1].title == "Conditional toys"
    assert config.benchmark_runs() == [("ring8", "hinge", 0), ("digits", "toy-cgan", 0), ("digits", "toy-cgan", 1)]
    assert _config().benchmark_runs() == [("ring8", "hinge", 0)], "a suite no one names does not run"
    assert parse(config.to_dict()) == config


def test_a_suites_budget_applies_to_its_runs_only():
    config = _config(suites=["conditional"])
    assert config.for_run("digits", "toy-cgan", 1).train.steps == 300
    assert config.for_run("ring8", "hinge", 0).train.steps == config.train.steps


def test_a_run_in_two_suites_is_one_run():
    config = _config(suites=["later"])
    assert config.benchmark_runs() == [("ring8", "hinge", 0)]


@pytest.mark.parametrize("change, message", [
    ({"benchmark": {"suites": ["nope"]}}, r"benchmark\.suites names nope, which suites: does not define; defined: "
                                          r"conditional, later"),
    ({"suites": {"conditional": {**SUITES["conditional"], "task": "paired-translation"}}},
     r"suites\.conditional: variant toy-cgan serves class-conditional, not the suite's task paired-translation"),
    ({"suites": {"benchmark": {}}}, r"suites\.benchmark: a suite needs a name other than 'benchmark'"),
    ({"suites": {"conditional": {**SUITES["conditional"], "train": {"stepz": 3}}}},
     r"unknown key suites\.conditional\.train\.stepz"),
    ({"data": {"datasets": ["ring8"]}}, r"data\.datasets must list every dataset the suites, tune and study use .*add "
                                        r"digits"),
    ({"benchmark": {"suites": ["later"], "datasets": ["ring8"], "variants": ["hinge"], "seeds": [0]},
      "suites": {"later": {"datasets": ["ring8"], "variants": ["hinge"], "seeds": [0], "train": {"steps": 10}}}},
     r"ring8-hinge-0 is in suites benchmark and later with different train budgets"),
    ({"suites": {"bad": {"datasets": ["ring8"], "variants": ["toy-cgan"]}}},
     r"ring8 × toy-cgan: family toy-cgan is class-conditional and needs labelled data"),
])
def test_params_refuse_suites_that_cannot_run(change, message):
    raw = {"benchmark": {"datasets": ["ring8"], "variants": ["hinge"], "seeds": [0]}, "suites": SUITES,
           "tune": {"dataset": "ring8"}, "study": {"dataset": "ring8"}}
    raw.update(change)
    with pytest.raises(ConfigError, match=message):
        parse(raw)


def test_families_cross_the_variants_each_family_training_each_loss_its_way():
    """cgan × non-saturating is cgan itself (its paper's loss, with its paper's optimiser), cgan × wgan-gp the WGAN-GP
    recipe on cgan's networks; gan × a loss is that loss's variant; a family with its paper's loss only
    (sngan) takes that loss and refuses another before any compute, naming both."""
    config = parse({"data": {"image_size": 8},
                    "benchmark": {"datasets": ["digits"], "variants": ["hinge", "wgan-gp"], "seeds": [0],
                                  "families": ["gan", "cgan"]},
                    "suites": {"sn": {"datasets": ["digits"], "variants": ["hinge"], "families": ["sngan", "projection"]}}})
    assert config.defined_suites()[0].variants == ("hinge", "wgan-gp", "cgan-hinge", "cgan-wgan-gp")
    assert config.defined_suites()[1].variants == ("sngan", "projection")
    assert parse(config.to_dict()) == config
    with pytest.raises(ConfigError, match="suites.sn.families × suites.sn.variants: family sngan cannot train "
                                          "variant wgan-gp: it offers sngan only"):
        parse({"suites": {"sn": {"datasets": ["digits"], "variants": ["wgan-gp"], "families": ["sngan"]}}})
