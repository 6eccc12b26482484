"""The checkpoint format: weights-only loading, fingerprint check, damaged files; what a resume restores."""

from __future__ import annotations

import pytest
import torch

from pipeline.training.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint


def test_round_trip_with_plain_containers(tmp_path):
    state = {"fingerprint": "abc", "step": 3, "weights": {"w": torch.ones(2)}, "betas": (0.5, 0.9), "history": [{"step": 1}]}
    save_checkpoint(tmp_path, state)
    loaded = load_checkpoint(tmp_path, "abc")
    assert loaded["step"] == 3 and loaded["betas"] == (0.5, 0.9)
    torch.testing.assert_close(loaded["weights"]["w"], torch.ones(2))


def test_checkpoint_of_another_config_is_refused(tmp_path):
    save_checkpoint(tmp_path, {"fingerprint": "a" * 64, "step": 1})
    with pytest.raises(CheckpointMismatchError, match="different configuration"):
        load_checkpoint(tmp_path, "b" * 64)


def test_pickled_code_is_not_loaded(tmp_path):
    import argparse

    torch.save({"format": 1, "fingerprint": "x", "code": argparse.Namespace(a=1)}, tmp_path / "state.pt")
    with pytest.raises(CheckpointMismatchError, match="cannot be read"):
        load_checkpoint(tmp_path, "x")


def test_truncated_checkpoint_is_reported(tmp_path):
    save_checkpoint(tmp_path, {"fingerprint": "x", "step": 1, "w": torch.randn(100)})
    path = tmp_path / "state.pt"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointMismatchError, match="cannot be read"):
        load_checkpoint(tmp_path, "x")


def test_a_refused_resume_names_the_settings_that_differ(tmp_path):
    save_checkpoint(tmp_path, {"fingerprint": "a" * 64, "step": 1, "job": {"train.lr_d": 2e-4, "world_size": 1}})
    with pytest.raises(CheckpointMismatchError, match=r"differs in train\.lr_d 0\.0002 → 0\.001, world_size 1 → 2"):
        load_checkpoint(tmp_path, "b" * 64, {"train.lr_d": 1e-3, "world_size": 2})


@pytest.fixture
def ring8(in_tmp):
    """The tiny config with ring8 alone prepared (``prepared``'s digits and its classifier take seconds)."""
    from pipeline.data.stage import prepare
    from tests.conftest import tiny_config

    config = tiny_config()
    prepare(config, "ring8")
    return config


def test_a_resumed_run_keeps_the_best_checkpoint_it_restored(ring8, tmp_path):
    """The best in-training measurement is part of the checkpoint: a run that crashes after its step-3 checkpoint
    and resumes ends with the best step and best generator of a run that never stopped (without Ray: the
    loop's report hook copies the checkpoint and crashes, as in tests/test_step.py)."""
    from tests.test_step import _assert_resume_equals_straight

    def best(training):
        return {"best_step": torch.tensor(training.best.step),
                **{f"best.{name}.{key}": value for name, weights in training.best.samplers.items()
                   for key, value in weights.items()}}

    straight, _ = _assert_resume_equals_straight(ring8, "non-saturating", tmp_path, best)
    assert straight.best.step == 3, "the best must come before the resume point for the check to bite"


def test_a_checkpoint_of_another_device_is_refused_in_one_line_naming_it(tmp_path):
    """The device is part of the fingerprint: a CPU checkpoint would restore a CPU (Mersenne) RNG state into a
    CUDA (Philox) generator, so a GPU job refuses it, and the refusal names the device."""
    from models.family import DataSpec
    from pipeline.tracking.store import flatten
    from pipeline.config import parse
    from pipeline.training.job import resolve_job

    on_cpu, on_gpu, on_h100 = (resolve_job(parse({"ray": ray}), "ring8", "hinge", 0, DataSpec("points", (2,)))
                               for ray in ({}, {"use_gpu": True}, {"use_gpu": True, "accelerator_type": "H100"}))
    assert (on_cpu.device, on_gpu.device, on_h100.device) == ("cpu", "cuda", "cuda:H100")
    save_checkpoint(tmp_path, {"fingerprint": on_cpu.fingerprint(), "step": 3, "job": flatten(on_cpu.shaping_settings())})
    for job in (on_gpu, on_h100):
        with pytest.raises(CheckpointMismatchError, match=rf"^checkpoint .* \(differs in device cpu → {job.device}\)\. "):
            load_checkpoint(tmp_path, job.fingerprint(), flatten(job.shaping_settings()))
