"""The learning-rate schedule (``train.lr_decay``): CycleGAN's constant-then-linear decay, applied in training,
exact through a resume, part of a run's fingerprint."""

from __future__ import annotations

import dataclasses

import pytest

from models.schedule import lr_factor
from pipeline.config import ConfigError
from tests.conftest import tiny_config
from tests.test_step import _assert_resume_equals_straight, _training, _weights


def test_linear_decay_by_hand():
    # 10 steps, decay from step 5: 1 for steps 0-4, then (10 - s) / 5
    assert [lr_factor("linear", s, 10, 0.5) for s in range(10)] == [1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2]
    assert [lr_factor("linear", s, 4, 0.0) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert {lr_factor("none", s, 10, 0.5) for s in range(10)} == {1.0}
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        lr_factor("cosine", 0, 10, 0.5)


def test_each_update_runs_at_the_scheduled_rate(prepared):
    """6 steps, decay from step 3: factors 1, 1, 1, 1, 2/3, 1/3 of the variant's lr (2e-4 for G and D)."""
    from pipeline.training.loop import Hooks

    training = _training(tiny_config(train={"lr_decay": "linear", "lr_decay_start": 0.5}), "non-saturating")
    seen = []
    training.run(Hooks(progress=lambda step: seen.append((training.model.opt_g.param_groups[0]["lr"],
                                                         training.model.opt_d.param_groups[0]["lr"]))))
    expected = [2.0e-4 * f for f in (1, 1, 1, 1, 2 / 3, 1 / 3)]
    assert [g for g, _ in seen] == pytest.approx(expected) and [d for _, d in seen] == pytest.approx(expected)


def test_a_resumed_run_follows_the_schedule_of_one_that_never_stopped(prepared, tmp_path):
    config = tiny_config(train={"lr_decay": "linear", "lr_decay_start": 0.0})
    _assert_resume_equals_straight(config, "wgan-gp", tmp_path, _weights)


def test_with_a_decay_the_number_of_steps_shapes_the_weights(prepared):
    def fingerprint(steps, decay):
        return _training(tiny_config(train={"steps": steps, "lr_decay": decay}), "non-saturating").job.fingerprint()

    assert fingerprint(6, "none") == fingerprint(12, "none"), "without a decay a run can be extended"
    assert fingerprint(6, "linear") != fingerprint(12, "linear")


@pytest.mark.parametrize("train, message", [
    ({"lr_decay": "cosine"}, "train.lr_decay"),
    ({"lr_decay": "linear", "lr_decay_start": 1.0}, "train.lr_decay_start"),
])
def test_bad_schedules_are_refused_naming_the_key(train, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(train=train)


def test_the_schedule_is_off_by_default():
    assert dataclasses.asdict(tiny_config().train)["lr_decay"] == "none"
