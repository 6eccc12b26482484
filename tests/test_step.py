"""The training step: Algorithm 1's k D updates per G update, statistics, determinism, resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.losses import NonSaturatingLoss, WassersteinLoss
from models.networks import NetworkSpec, build_discriminator, build_generator
from models.step import Objective, build_optimiser, train_step
from pipeline.job import resolve_job
from pipeline.layout import prepared_dir, reference_dir
from pipeline.train_loop import GANTraining, ShardedBatches, steady_rate

SPEC = NetworkSpec("mlp", (2,), z_dim=4, width=16, depth=2, d_norm="none")


class CountingOptimiser(torch.optim.SGD):
    def __init__(self, params):
        super().__init__(params, lr=0.01)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def _nets():
    torch.manual_seed(0)
    return build_generator(SPEC), build_discriminator(SPEC)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_discriminator_steps_exactly_k_times_per_generator_step(k):
    g, d = _nets()
    opt_g, opt_d = CountingOptimiser(g.parameters()), CountingOptimiser(d.parameters())
    batches_drawn = []

    def next_real():
        batches_drawn.append(1)
        return torch.randn(8, 2)

    for _ in range(4):
        train_step(g, d, opt_g, opt_d, Objective(NonSaturatingLoss()), next_real, lambda n: torch.randn(n, 4), k)
    assert opt_g.steps == 4
    assert opt_d.steps == 4 * k
    assert len(batches_drawn) == 4 * k, "each D step gets a fresh real batch"


def test_generator_step_leaves_discriminator_untouched():
    g, d = _nets()
    opt_g = build_optimiser("adam", g.parameters(), 1e-3, (0.5, 0.999))
    opt_d = CountingOptimiser(d.parameters())
    train_step(g, d, opt_g, opt_d, Objective(NonSaturatingLoss()), lambda: torch.randn(8, 2), lambda n: torch.randn(n, 4), 1)
    d_after_step = {k: v.clone() for k, v in d.state_dict().items()}
    from models.step import generator_step

    generator_step(g, d, opt_g, Objective(NonSaturatingLoss()), torch.randn(8, 4))
    for key, value in d.state_dict().items():
        torch.testing.assert_close(value, d_after_step[key])
    assert all(p.requires_grad for p in d.parameters()), "D is trainable again after the G step"


def test_step_statistics_are_plain_floats():
    g, d = _nets()
    stats = train_step(g, d, CountingOptimiser(g.parameters()), CountingOptimiser(d.parameters()),
                       Objective(WassersteinLoss(), regulariser="gradient-penalty", gp_lambda=10.0),
                       lambda: torch.randn(8, 2), lambda n: torch.randn(n, 4), 2)
    values = stats.as_dict()
    assert set(values) == {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "penalty", "wasserstein"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())
    assert values["penalty"] > 0
    assert values["wasserstein"] == pytest.approx(values["d_real"] - values["d_fake"], rel=1e-5)


def test_weight_clipping_is_applied_after_each_d_step():
    g, d = _nets()
    opt_d = build_optimiser("rmsprop", d.parameters(), 0.5, (0.5, 0.999))
    train_step(g, d, CountingOptimiser(g.parameters()), opt_d, Objective(WassersteinLoss(), regulariser="weight-clipping", clip=0.01),
               lambda: torch.randn(8, 2), lambda n: torch.randn(n, 4), 3)
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.01 + 1e-7


def test_sharded_batches_are_disjoint_and_resumable():
    data = torch.arange(20).float()[:, None]
    shards = [ShardedBatches(data, 5, rank, 2, seed=3) for rank in range(2)]
    seen = [torch.cat([s() for _ in range(2)]).view(-1).tolist() for s in shards]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(20))
    resumed = ShardedBatches(data, 5, 0, 2, seed=3)
    resumed.load_state_dict(shards[0].state_dict())
    torch.testing.assert_close(resumed(), shards[0]())
    with pytest.raises(ValueError, match="cannot fill a batch"):
        ShardedBatches(data, 11, 0, 2, seed=0)


def _training(config, variant="wgan-gp", dataset="ring8"):
    from pipeline.prepared import load_prepared

    shape = tuple(load_prepared(dataset).manifest["shape"])
    job = resolve_job(config, dataset, variant, 0, shape, prepared_dir(dataset), reference_dir(dataset))
    return GANTraining(job)


def _weights(training: GANTraining) -> dict[str, torch.Tensor]:
    return {**{f"g.{k}": v for k, v in training.generator.state_dict().items()},
            **{f"d.{k}": v for k, v in training.discriminator.state_dict().items()}}


@pytest.mark.parametrize("dataset, variant", [("ring8", "wgan-gp"), ("digits", "non-saturating")])
def test_same_seed_gives_identical_weights(prepared, dataset, variant):
    first, second = _training(prepared, variant, dataset), _training(prepared, variant, dataset)
    first.run()
    second.run()
    for key, value in _weights(first).items():
        assert torch.equal(value, _weights(second)[key]), key


class Crash(RuntimeError):
    pass


def test_resuming_gives_the_same_result_as_not_stopping(prepared, tmp_path):
    """A run that crashes right after its step-3 checkpoint and resumes from it ends with the
    same weights and the same history as a run that never stopped."""
    import shutil

    from pipeline.train_loop import Hooks

    straight = _training(prepared, "wgan-gp")
    straight.run()

    def crash_after_checkpoint(metrics, directory):
        shutil.copytree(directory, tmp_path / "ckpt")
        raise Crash

    interrupted = _training(prepared, "wgan-gp")
    with pytest.raises(Crash):
        interrupted.run(Hooks(report=crash_after_checkpoint))
    resumed = _training(prepared, "wgan-gp")
    resumed.restore(tmp_path / "ckpt")
    assert resumed.step == 3
    resumed.run()
    assert resumed.step == straight.step == 6
    for key, value in _weights(straight).items():
        assert torch.equal(value, _weights(resumed)[key]), key

    def without_timing(history):
        return [{k: v for k, v in row.items() if k != "steps_per_s"} for row in history]

    assert without_timing(resumed.history) == without_timing(straight.history)


def test_non_finite_loss_stops_training_as_diverged(prepared):
    training = _training(prepared, "non-saturating")
    with torch.no_grad():
        for p in training.discriminator.parameters():
            p.fill_(float("nan"))
    history = training.run()
    assert training.diverged_at == 1
    assert len(history) == 1


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_steps_run_and_stay_finite(precision):
    from models.step import Precision

    torch.manual_seed(0)
    spec = NetworkSpec("dcgan", (1, 8, 8), z_dim=4, width=8, depth=1, d_norm="layer")
    g, d = build_generator(spec), build_discriminator(spec)
    opt_g = build_optimiser("adam", g.parameters(), 1e-4, (0.0, 0.9))
    opt_d = build_optimiser("adam", d.parameters(), 1e-4, (0.0, 0.9))
    amp = Precision.create(precision, "cpu")
    assert (amp.scaler_d is not None) == (precision == "fp16")
    for _ in range(3):
        stats = train_step(g, d, opt_g, opt_d, Objective(WassersteinLoss(), "gradient-penalty"),
                           lambda: torch.rand(8, 1, 8, 8) * 2 - 1, lambda n: torch.randn(n, 4), 2, precision=amp)
    assert all(math.isfinite(v) for v in stats.as_dict().values())
    assert all(p.dtype == torch.float32 for p in g.parameters()), "weights stay fp32 (autocast, not half models)"


def test_steady_rate_leaves_out_the_warm_up_window_and_weights_windows_by_time():
    history = [{"step": 100, "steps_per_s": 10.0}, {"step": 200, "steps_per_s": 100.0},
               {"step": 400, "steps_per_s": 50.0}]
    assert steady_rate(history) == pytest.approx(300 / (1.0 + 4.0))
    assert steady_rate(history[:1]) == pytest.approx(10.0)
    assert steady_rate([]) is None
