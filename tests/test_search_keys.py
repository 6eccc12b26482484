"""What a search space may name besides the short names: ``model.<key>``, ``loss.<key>``, ``train.<key>`` and a
family's own options ``families.<family>.<option>``; each checked against its key's rule and against what the
searched variants' families read, and applied to a trial's config (no Ray)."""

from __future__ import annotations

import pytest
import yaml

import tests.families.toy_conditional  # noqa: F401  (registers toy-cgan: a family that reads few shared keys)
import tests.families.toy_ttur  # noqa: F401  (registers toy-ttur: a family with an option of its own)
from models.family import DataSpec
from pipeline.config import ConfigError, load, parse
from pipeline.config.space import COMPARE_GAN_V1_SPACE, Dimension
from pipeline.training.job import resolve_job
from pipeline.tuning.results import best_params
from pipeline.tuning.space import grid_values, trial_settings
from tests.families.toy_ttur import TTUROptions

POINTS = DataSpec("points", (2,))
DIGITS = DataSpec("images", (1, 8, 8), 10)
SWEEP = {"steps": 1000, "eval_every": 100, "grace_period": 100}


def _sweep(space, variants=("wgan-gp",), dataset="ring8", tune=None, **params):
    return parse({"tune": {**SWEEP, "dataset": dataset, "variants": list(variants), "space": space, **(tune or {})},
                  **params})


def test_every_kind_of_name_parses_and_round_trips():
    config = _sweep({"model.width": ["choice", [32, 64]], "loss.gp_lambda": ["loguniform", 0.1, 100.0],
                     "train.betas": ["choice", [[0.5, 0.999], [0.0, 0.9]]], "train.optimiser": ["choice", ["adam", None]],
                     "lr": ["loguniform", 1e-5, 1e-3]})
    assert [d.name for d in config.tune.space] == ["model.width", "loss.gp_lambda", "train.betas", "train.optimiser", "lr"]
    assert config.tune.space[2].values == ((0.5, 0.999), (0.0, 0.9))
    assert parse(config.to_dict()) == config
    assert parse(yaml.safe_load(yaml.safe_dump(config.to_dict(), sort_keys=False))) == config, "a space survives params.yaml"


def test_a_trial_applies_model_loss_and_train_keys_and_the_job_shows_them():
    config = _sweep({"model.width": ["choice", [32, 48]], "loss.gp_lambda": ["uniform", 1.0, 20.0],
                     "train.betas": ["choice", [[0.0, 0.9]]], "train.ema_decay": ["uniform", 0.9, 0.99]})
    trial, variant = trial_settings(config, "ring8", {"model.width": 48, "loss.gp_lambda": 5.0,
                                                      "train.betas": [0.0, 0.9], "train.ema_decay": 0.95})
    job = resolve_job(trial, "ring8", variant, 0, POINTS)
    plain = resolve_job(config, "ring8", variant, 0, POINTS)
    assert (plain.settings.network.width, plain.settings.gp_lambda, plain.train.ema_decay) == (64, 10.0, None)
    assert (job.settings.network.width, job.settings.gp_lambda, job.train.ema_decay) == (48, 5.0, 0.95)
    assert job.settings.optimiser.betas == (0.0, 0.9) and job.fingerprint() != plain.fingerprint()
    params = job.as_params()  # what MLflow records
    assert (params["network"]["width"], params["gp_lambda"], params["train"]["ema_decay"]) == (48, 5.0, 0.95)


def test_a_trial_applies_a_family_option_over_params_and_defaults():
    config = _sweep({"families.toy-ttur.d_lr_factor": ["loguniform", 0.25, 4.0]}, variants=["toy-ttur"], dataset="digits",
                    benchmark={"datasets": ["digits"], "variants": ["toy-ttur"]}, train={"lr_g": 1e-3})
    trial, variant = trial_settings(config, "digits", {"families.toy-ttur.d_lr_factor": 0.5})
    assert trial.family_options("toy-ttur") == TTUROptions(d_lr_factor=0.5) and config.families == ()
    job = resolve_job(trial, "digits", variant, 0, DIGITS)
    assert (job.settings.lr, job.settings.lr_d) == (1e-3, 5e-4), "D at half of G's learning rate"
    assert job.as_params()["lr_d"] == 5e-4
    given = parse({**config.to_dict(), "families": {"toy-ttur": {"d_lr_factor": 3.0}}})
    assert given.family_options("toy-ttur") == TTUROptions(3.0)
    again, _ = trial_settings(given, "digits", {"families.toy-ttur.d_lr_factor": 2.0})
    assert resolve_job(again, "digits", variant, 0, DIGITS).settings.lr_d == 2e-3, "the sample wins over params"


def test_the_winners_params_file_holds_a_family_option_and_a_model_key(tmp_path):
    import pandas as pd

    config = _sweep({"families.toy-ttur.d_lr_factor": ["choice", [0.5, 2.0]], "model.width": ["choice", [16, 32]]},
                    variants=["toy-ttur"], dataset="digits", benchmark={"datasets": ["digits"], "variants": ["toy-ttur"]})
    winner = pd.Series({"trial_id": "a", "families.toy-ttur.d_lr_factor": 2.0, "model.width": 32})
    path = tmp_path / "best.yaml"
    path.write_text(yaml.safe_dump(best_params(config, winner, ["families.toy-ttur.d_lr_factor", "model.width"])))
    retrain = load(path)
    job = resolve_job(retrain, "digits", "toy-ttur", 0, DIGITS)
    assert retrain.family_options("toy-ttur") == TTUROptions(2.0) and job.settings.width == 32
    assert job.settings.lr_d == 2 * job.settings.lr


@pytest.mark.parametrize(
    "space, variants, message",
    [
        ({"model.widht": ["choice", [32]]}, None, r"^params\.yaml: tune\.space\.model\.widht: model has no key 'widht'; "
                                                  r"its keys: arch, z_dim, width, depth, norm$"),
        ({"data.n_points": ["choice", [500]]}, None, r"unknown key tune\.space\.data\.n_points; tunable: lr, lr_g"),
        ({"train.steps": ["choice", [500]]}, None, r"tune\.space\.train\.steps: every trial takes train\.steps from "
                                                   r"the sweep"),
        ({"model.width": ["choice", [2]]}, None, r"tune\.space\.model\.width\[0\] = 2 is out of range; expected >= 4"),
        ({"model.arch": ["choice", ["resnet"]]}, None, r"tune\.space\.model\.arch\[0\] = 'resnet' is not allowed; "
                                                       r"expected one of auto, mlp, dcgan"),
        ({"model.arch": ["uniform", 0.0, 1.0]}, None, r"tune\.space\.model\.arch takes values of type str, not a range"),
        ({"train.betas": ["uniform", 0.0, 0.9]}, None, r"tune\.space\.train\.betas takes values of type tuple"),
        ({"model.width": ["uniform", 16, 64]}, None, r"tune\.space\.model\.width takes whole numbers"),
        ({"train.lr_g": ["loguniform", 1e-4, 1e-3], "lr_g": ["loguniform", 1e-4, 1e-3]}, None,
         r"tune\.space\.train\.lr_g and tune\.space\.lr_g both set train\.lr_g; keep one of them"),
        ({"families.nosuch.x": ["choice", [1]]}, None, r"tune\.space\.families\.nosuch\.x must be "
                                                       r"families\.<family>\.<option> of a registered family"),
        ({"families.gan.x": ["choice", [1]]}, None, r"tune\.space\.families\.gan\.x: family gan has no option 'x'; "
                                                    r"its options: real_label, noise_sigma, "),
        ({"families.toy-ttur.d_lr_factor": ["uniform", 0.0, 2.0]}, ["toy-ttur"],
         r"tune\.space\.families\.toy-ttur\.d_lr_factor low = 0\.0 is out of range; expected > 0\.0"),
        ({"families.toy-ttur.d_lr_factor": ["choice", [2.0]]}, None,
         r"^params\.yaml: tune\.space\.families\.toy-ttur\.d_lr_factor sets an option of family toy-ttur, but no "
         r"variant of tune\.variants \(wgan-gp\) is of that family; leave it out or search such a variant$"),
        ({"model.depth": ["choice", [2, 3]]}, ["toy-cgan"],
         r"^params\.yaml: tune\.space\.model\.depth sets model\.depth, which family toy-cgan \(variant toy-cgan\) "
         r"does not read; it reads model\.z_dim, model\.width, train\.lr_g, train\.betas$"),
        ({"k_d_steps": ["choice", [1, 2]]}, ["hinge", "toy-ttur"],
         r"tune\.space\.k_d_steps sets train\.k_d_steps, which family toy-ttur \(variant toy-ttur\) does not read; it "
         r"reads .* and its options families\.toy-ttur\.\*$"),
    ],
)
def test_spaces_that_name_what_no_family_reads_or_break_a_keys_rule_are_refused(space, variants, message):
    raw = {"tune": {**SWEEP, "dataset": "digits", "space": space, **({"variants": variants} if variants else {})},
           "benchmark": {"datasets": ["digits"]}}
    with pytest.raises(ConfigError, match=message):
        parse(raw, "params.yaml")


def test_a_study_of_a_family_that_reads_less_needs_its_own_space():
    with pytest.raises(ConfigError, match=r"study\.space\.k_d_steps sets train\.k_d_steps, which family toy-cgan .*"
                                          r"\(study\.space is left out, so the study searches compare_gan's v1 space"):
        parse({"study": {"variants": ["toy-cgan"]}})
    assert parse({"study": {"variants": ["toy-cgan"], "space": {"lr": ["loguniform", 1e-4, 1e-3]}}}).study.variants


def test_the_loop_keys_and_the_short_names_are_searched_for_every_family():
    """batch_size is the training loop's (every family trains on batches); lr sets both rates, toy-cgan reads one."""
    config = _sweep({"batch_size": ["choice", [16, 32]], "lr": ["loguniform", 1e-4, 1e-3]}, variants=["toy-cgan"],
                    dataset="digits", benchmark={"datasets": ["digits"]})
    trial, variant = trial_settings(config, "digits", {"batch_size": 32, "lr": 3e-4})
    job = resolve_job(trial, "digits", variant, 0, DIGITS)
    assert job.train.batch_size == 32 and job.settings.lr == 3e-4


def test_pbt_mutates_learning_rates_and_k_by_any_name():
    from pipeline.config.space import pbt_mutable

    assert [pbt_mutable(d) for d in COMPARE_GAN_V1_SPACE] == [True, False, True, False]
    assert pbt_mutable(Dimension("train.lr_d", "loguniform", 1e-4, 1e-3))
    assert not pbt_mutable(Dimension("model.width", "choice", values=(16,)))
    assert _sweep({"train.lr_g": ["loguniform", 1e-4, 1e-3]}, tune={"scheduler": "pbt", "perturbation_interval": 100})
    with pytest.raises(ConfigError, match=r"pbt mutates train\.lr_g, train\.lr_d, train\.k_d_steps \(short names lr, "
                                          r"lr_g, lr_d, k_d_steps\); put at least one of them in tune\.space"):
        _sweep({"model.width": ["choice", [16, 32]]}, tune={"scheduler": "pbt", "perturbation_interval": 100})
    assert grid_values(Dimension("loss.gp_lambda", "loguniform", 0.1, 10.0), 3) == pytest.approx([0.1, 1.0, 10.0])
