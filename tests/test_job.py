"""Resolving a job: "auto" settings, paper defaults and the checkpoint fingerprint."""

from __future__ import annotations

from models.family import DataSpec
from pipeline.config import parse
from pipeline.training.job import resolve_job


def _job(raw=None, dataset="digits", variant="wgan-gp", shape=(1, 16, 16)):
    data = DataSpec("points" if shape == (2,) else "images", shape, 0 if shape == (2,) else 10)
    return resolve_job(parse(raw or {}), dataset, variant, 0, data)


def test_auto_settings_follow_the_data_and_the_variant():
    assert _job().settings.network.arch == "dcgan"
    assert _job().settings.network.d_norm == "layer", "a WGAN-GP critic gets no BatchNorm"
    assert _job(variant="hinge").settings.network.d_norm == "batch"
    assert _job(dataset="ring8", variant="hinge", shape=(2,)).settings.network.arch == "mlp"


def test_paper_defaults_and_overrides():
    wgan_gp = _job().settings.optimiser
    assert (wgan_gp.name, wgan_gp.lr_g, wgan_gp.betas, wgan_gp.k_d_steps) == ("adam", 1e-4, (0.0, 0.9), 5)
    assert _job(variant="wgan").settings.optimiser.name == "rmsprop"
    tuned = _job({"train": {"lr_g": 3e-4, "k_d_steps": 2}}).settings.optimiser
    assert (tuned.lr_g, tuned.lr_d, tuned.k_d_steps) == (3e-4, 1e-4, 2)


def test_fingerprint_ignores_schedule_but_not_the_math():
    base = _job()
    longer = _job({"train": {"steps": 99999, "log_every": 7}})
    other_lr = _job({"train": {"lr_d": 5e-4}})
    assert base.fingerprint() == longer.fingerprint()
    assert base.fingerprint() != other_lr.fingerprint()


def test_linear_lr_scaling_multiplies_both_rates_by_the_worker_count():
    """Goyal et al. 2017: the global batch grows with the workers, so do the learning rates (lr_scaling: linear)."""
    two = {"ray": {"num_workers": 2}}
    plain, scaled = _job(two).settings.optimiser, _job({**two, "train": {"lr_scaling": "linear"}}).settings.optimiser
    assert (plain.lr_g, plain.lr_d) == (1e-4, 1e-4)
    assert (scaled.lr_g, scaled.lr_d) == (2e-4, 2e-4)
    assert _job({**two, "train": {"lr_scaling": "linear", "lr_d": 3e-4}}).settings.optimiser.lr_d == 6e-4
    assert _job({"train": {"lr_scaling": "linear"}}).settings.optimiser.lr_g == 1e-4, "one worker: unchanged"
