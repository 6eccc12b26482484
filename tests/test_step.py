"""The training step: Algorithm 1's k D updates per G update, statistics, determinism, resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from models.losses import NonSaturatingLoss, WassersteinLoss
from models.networks import NetworkSpec, build_discriminator, build_generator
from models.regularisers import GradientPenalty, WeightClipping
from models.step import Objective, build_optimiser, train_step, unwrap
from pipeline.training.job import resolve_job
from pipeline.data.shipping import DatasetFolders
from pipeline.training.batches import ShardedBatches
from pipeline.training.clock import steady_rate
from pipeline.training.loop import TrainingLoop
from tests.conftest import tiny_config

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


@pytest.mark.parametrize("k", [1, 3])
def test_every_d_step_and_the_g_step_draw_fresh_noise(k):
    """Goodfellow et al. (2014), Algorithm 1: each of the k D steps samples its own minibatch of m noise vectors, and
    the G step another: k + 1 draws per iteration, each fed to G exactly once, in order."""
    g, d = _nets()
    drawn, fed = [], []
    g.register_forward_pre_hook(lambda module, args: fed.append(args[0]))

    def sample_z(n):
        drawn.append(torch.randn(n, 4))
        return drawn[-1]

    for _ in range(2):
        train_step(g, d, CountingOptimiser(g.parameters()), CountingOptimiser(d.parameters()),
                   Objective(NonSaturatingLoss()), lambda: torch.randn(8, 2), sample_z, k)
    assert len(drawn) == 2 * (k + 1)
    assert len(fed) == len(drawn) and all(z is noise for z, noise in zip(fed, drawn))


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


def test_the_g_step_keeps_ds_weights_but_moves_its_batchnorm_statistics_as_dcgan_does():
    """D is frozen, not put in eval mode, during G's step (PyTorch's DCGAN example; Radford et al. 2016): its weights
    are unchanged and get no gradient, while its BatchNorm running statistics take one momentum step towards the
    statistics of G's batch, μ ← 0.9 μ + 0.1 x̄ and σ² ← 0.9 σ² + 0.1 s² (unbiased s², PyTorch's BatchNorm2d),
    computed here in numpy from the batch that reached the layer."""
    from models.step import generator_step

    torch.manual_seed(0)
    spec = NetworkSpec("dcgan", (1, 16, 16), z_dim=4, width=4, depth=1, d_norm="batch")
    g, d = build_generator(spec), build_discriminator(spec)
    (bn,) = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    weights = {name: p.detach().clone() for name, p in d.named_parameters()}
    mean, var = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()
    seen = []
    bn.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().double().numpy()))
    generator_step(g, d, torch.optim.SGD(g.parameters(), lr=0.1), Objective(NonSaturatingLoss()), torch.randn(8, 4))
    (x,) = seen
    assert all(torch.equal(p, weights[name]) and p.grad is None for name, p in d.named_parameters())
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.9 * mean + 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 * var + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1 and d.training


def test_step_statistics_are_plain_floats():
    g, d = _nets()
    stats = train_step(g, d, CountingOptimiser(g.parameters()), CountingOptimiser(d.parameters()),
                       Objective(WassersteinLoss(), GradientPenalty(weight=10.0)),
                       lambda: torch.randn(8, 2), lambda n: torch.randn(n, 4), 2)
    values = stats.as_dict()
    assert set(values) == {"loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "penalty", "wasserstein"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())
    assert values["penalty"] > 0
    assert values["wasserstein"] == pytest.approx(values["d_real"] - values["d_fake"], rel=1e-5)


def test_weight_clipping_is_applied_after_each_d_step():
    g, d = _nets()
    opt_d = build_optimiser("rmsprop", d.parameters(), 0.5, (0.5, 0.999))
    train_step(g, d, CountingOptimiser(g.parameters()), opt_d, Objective(WassersteinLoss(), WeightClipping(clip=0.01)),
               lambda: torch.randn(8, 2), lambda n: torch.randn(n, 4), 3)
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.01 + 1e-7


def test_sharded_batches_are_disjoint_and_resumable():
    data = {"x": torch.arange(20).float()[:, None]}
    shards = [ShardedBatches(data, 5, rank, 2, seed=3) for rank in range(2)]
    seen = [torch.cat([s()["x"] for _ in range(2)]).view(-1).tolist() for s in shards]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(20))
    resumed = ShardedBatches(data, 5, 0, 2, seed=3)
    resumed.load_state_dict(shards[0].state_dict())
    torch.testing.assert_close(resumed()["x"], shards[0]()["x"])
    with pytest.raises(ValueError, match="cannot fill a batch"):
        ShardedBatches(data, 11, 0, 2, seed=0)


def _training(config, variant="wgan-gp", dataset="ring8", seed=0, rank=0, world=1):
    from pipeline.data.store import data_spec, load_prepared

    job = resolve_job(config, dataset, variant, seed, data_spec(load_prepared(dataset)))
    return TrainingLoop(job, DatasetFolders.of_project(dataset), rank=rank, world=world)


def _weights(training: TrainingLoop) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v for name, module in training.model.modules().items() for k, v in module.state_dict().items()}


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

    def without_timing(history):
        return [{k: v for k, v in row.items() if k != "steps_per_s"} for row in history]

    straight, resumed = _assert_resume_equals_straight(prepared, "wgan-gp", tmp_path, _weights)
    assert without_timing(resumed.history) == without_timing(straight.history)


def test_non_finite_loss_stops_training_as_diverged(prepared):
    training = _training(prepared, "non-saturating")
    with torch.no_grad():
        for p in training.model.modules()["discriminator"].parameters():
            p.fill_(float("nan"))
    history = training.run()
    assert training.diverged_at == 1
    assert len(history) == 1


def _updates_after_three_steps(precision, objective, init_scale=None):
    """G's and D's weight changes after 3 SGD iterations (k = 2) on fixed data and noise, under ``precision``."""
    from models.precision import Precision

    torch.manual_seed(0)
    spec = NetworkSpec("dcgan", (1, 8, 8), z_dim=4, width=8, depth=1, d_norm="layer")
    g, d = build_generator(spec), build_discriminator(spec)
    before = [{k: v.clone() for k, v in net.state_dict().items()} for net in (g, d)]
    opt_g, opt_d = torch.optim.SGD(g.parameters(), lr=0.05), torch.optim.SGD(d.parameters(), lr=0.05)
    amp = Precision.create(precision, "cpu")
    if init_scale is not None:  # a loss scale that has settled (no overflow), as it does after the first skipped steps
        amp.scaler_d, amp.scaler_g = (torch.amp.GradScaler("cpu", init_scale=init_scale) for _ in range(2))
    data = torch.Generator().manual_seed(1)
    reals = iter([torch.rand(16, 1, 8, 8, generator=data) * 2 - 1 for _ in range(6)])
    noise = iter([torch.randn(16, 4, generator=data) for _ in range(9)])
    for _ in range(3):
        train_step(g, d, opt_g, opt_d, objective, lambda: next(reals), lambda n: next(noise), 2,
                   rng=torch.Generator().manual_seed(5), precision=amp)
    assert all(p.dtype == torch.float32 for p in g.parameters()), "weights stay fp32 (autocast, not half models)"
    return [torch.cat([(net.state_dict()[k] - start[k]).flatten() for k in start if start[k].is_floating_point()])
            for net, start in zip((g, d), before)]


@pytest.mark.parametrize("precision, objective, init_scale, tolerance", [
    ("bf16", Objective(NonSaturatingLoss()), None, 0.03),
    ("bf16", Objective(WassersteinLoss(), GradientPenalty()), None, 0.03),
    ("fp16", Objective(NonSaturatingLoss()), None, 0.02),
    ("fp16", Objective(WassersteinLoss(), GradientPenalty()), 2.0**10, 0.02),
])
def test_mixed_precision_updates_match_fp32_within_the_precision(precision, objective, init_scale, tolerance):
    """The weight updates of 3 iterations under autocast are those of fp32 to within a few times the format's
    rounding (bf16: 8 significant bits, 2^-8 ≈ 0.4 %; fp16: 11 bits, but rounding compounds through the nets and
    the penalty's double backward) -- and not identical, which would mean autocast did nothing."""
    reference = _updates_after_three_steps("fp32", objective)
    mixed = _updates_after_three_steps(precision, objective, init_scale)
    for ours, exact, net in zip(mixed, reference, ("G", "D")):
        error = ((ours - exact).norm() / exact.norm()).item()
        assert error < tolerance, f"{net}: {precision} update differs from fp32 by {error:.2%}"
    d_error = ((mixed[1] - reference[1]).norm() / reference[1].norm()).item()
    assert d_error > 1e-5, f"{precision} gave fp32's D update exactly: the forward did not run in {precision}"


def test_seeds_matter_and_training_changes_the_weights(prepared):
    initial = _weights(_training(prepared, "non-saturating", "ring8"))
    trained = _training(prepared, "non-saturating", "ring8")
    trained.run()
    changed = [key for key, value in _weights(trained).items() if not torch.equal(value, initial[key])]
    assert len(changed) == len(initial), f"untouched by training: {set(initial) - set(changed)}"
    other_seed = _training(prepared, "non-saturating", "ring8", seed=1)
    other_seed.run()
    assert all(not torch.equal(value, _weights(other_seed)[key]) for key, value in _weights(trained).items())


def test_a_dcgan_learns_digits_in_400_steps(digits_with_a_real_classifier):
    """Seeded and cheap: the in-training classifier-FID of the untrained generator falls at least 2.5-fold
    in 400 non-saturating steps (measured here: 81 → 41, 23, 25, 14 at steps 100-400)."""
    training = _training(digits_with_a_real_classifier, "non-saturating", "digits")
    untrained = training._monitor()["fid_clf1k"]
    history = training.run()
    assert history[-1]["fid_clf1k"] < untrained / 2.5, (untrained, [row["fid_clf1k"] for row in history])


def test_each_worker_draws_its_own_noise_and_shards_reshuffle_every_epoch(prepared):
    config = tiny_config(ray={"num_workers": 2})
    ranks = [_training(config, "hinge", "ring8", rank=rank, world=2) for rank in (0, 1)]
    assert not torch.equal(ranks[0].sample_z(8), ranks[1].sample_z(8)), "per-worker noise streams"
    data = {"x": torch.arange(40).float()[:, None], "y": torch.arange(40)}
    shards = [ShardedBatches(data, 5, rank=rank, world=2, seed=3) for rank in (0, 1)]
    batches = [[shard() for _ in range(8)] for shard in shards]
    assert all(torch.equal(b["x"][:, 0].long(), b["y"]) for shard in batches for b in shard), "x and y stay paired"
    epochs = [[torch.cat([b["x"] for b in shard[4 * e : 4 * e + 4]]).view(-1).tolist() for shard in batches]
              for e in range(2)]
    for epoch in epochs:
        assert sorted(epoch[0] + epoch[1]) == list(range(40)), "each epoch, the two shards split the data between them"
    assert epochs[0][0] != epochs[1][0], "and the next epoch reshuffles it"


def test_a_checkpoint_from_another_worker_count_is_refused(prepared, tmp_path):
    from pipeline.training.checkpoint import CheckpointMismatchError, save_checkpoint

    single = _training(prepared, "hinge", "ring8")
    save_checkpoint(tmp_path, single.state_dict())
    double = _training(tiny_config(ray={"num_workers": 2}), "hinge", "ring8", world=2)
    assert double.job.fingerprint() != single.job.fingerprint()
    with pytest.raises(CheckpointMismatchError, match="different configuration"):
        double.restore(tmp_path)


def test_the_ema_follows_g_through_training_and_survives_a_resume(prepared, tmp_path):
    """θ_ema ← β θ_ema + (1 - β) θ after every G step (β = 0.9), recomputed here from G's weights at each step;
    a run resumed from its step-3 checkpoint ends with the EMA of one that never stopped."""
    from pipeline.training.loop import Hooks

    config = tiny_config(train={"ema_decay": 0.9})
    training = _training(config, "non-saturating", "ring8")
    generator = training.model.modules()["generator"]
    expected = {k: v.clone() for k, v in generator.state_dict().items()}

    def follow(step):
        for key, value in generator.state_dict().items():
            expected[key] = 0.9 * expected[key] + 0.1 * value if value.is_floating_point() else value.clone()

    training.run(Hooks(progress=follow))
    for key, value in training.sampling_generator().state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-5, atol=1e-6, msg=key)
    assert training.sampling_generator() is training.model.ema.module and training.sampling_generator() is not generator
    _assert_resume_equals_straight(config, "non-saturating", tmp_path,
                                   lambda t: {k: v.clone() for k, v in t.sampling_generator().state_dict().items()})


def test_fp16_loss_scalers_survive_a_resume(prepared, tmp_path):
    config = tiny_config(train={"precision": "fp16"})
    _assert_resume_equals_straight(config, "hinge", tmp_path,
                                   lambda t: {"scale_d": torch.tensor(t.model.precision.scaler_d.get_scale()),
                                              "scale_g": torch.tensor(t.model.precision.scaler_g.get_scale()), **_weights(t)})


def _assert_resume_equals_straight(config, variant, tmp_path, observed):
    """Stop after the step-3 checkpoint, resume from it: ``observed(training)`` equals a run that never stopped.
    Returns (the straight run, the resumed run)."""
    import shutil

    from pipeline.training.loop import Hooks

    straight = _training(config, variant)
    straight.run()

    def crash_after_checkpoint(metrics, directory):
        shutil.copytree(directory, tmp_path / "ckpt")
        raise Crash

    with pytest.raises(Crash):
        _training(config, variant).run(Hooks(report=crash_after_checkpoint))
    resumed = _training(config, variant)
    resumed.restore(tmp_path / "ckpt")
    assert resumed.step == 3 and resumed.resumed_from == [3]
    resumed.run()
    expected = observed(straight)
    for key, value in observed(resumed).items():
        assert torch.equal(value, expected[key]), key
    return straight, resumed


def test_steady_rate_leaves_out_the_warm_up_window_and_weights_windows_by_time():
    history = [{"step": 100, "steps_per_s": 10.0}, {"step": 200, "steps_per_s": 100.0},
               {"step": 400, "steps_per_s": 50.0}]
    assert steady_rate(history) == pytest.approx(300 / (1.0 + 4.0))
    assert steady_rate(history[:1]) == pytest.approx(10.0)
    assert steady_rate([]) is None


class Recording(nn.Module):
    """A conditioned network that records the labels it was called with (``(inputs, conditions)``)."""

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(3, out_features)
        self.seen: list[torch.Tensor] = []

    def forward(self, inputs: torch.Tensor, conditions: dict[str, torch.Tensor]) -> torch.Tensor:
        self.seen.append(conditions["y"].clone())
        return self.linear(inputs.flatten(1)[:, :2].sum(1, keepdim=True).expand(-1, 3) + conditions["y"][:, None])


def test_conditions_reach_g_d_and_the_penalty_real_with_real_and_generated_with_generated():
    """Mirza & Osindero (2014): D(x, y) on real pairs, D(G(z, y'), y') on generated ones, G(z, y') in its update;
    the gradient penalty judges its interpolates under the real labels."""
    torch.manual_seed(0)
    g, d = Recording(2), Recording(1)
    real_y, fake_y = torch.tensor([0.0, 1.0, 2.0, 3.0]), torch.tensor([7.0, 7.0, 8.0, 8.0])
    train_step(g, d, torch.optim.SGD(g.parameters(), lr=0.01), torch.optim.SGD(d.parameters(), lr=0.01),
               Objective(WassersteinLoss(), GradientPenalty(weight=10.0)),
               lambda: {"x": torch.randn(4, 2), "y": real_y}, lambda n: torch.randn(n, 3), 1,
               fake_conditions=lambda conditions: {"y": fake_y})
    assert [seen.tolist() for seen in g.seen] == [fake_y.tolist()] * 2  # the D step's batch, then the G step's
    # D step: real, generated, the penalty's interpolates; then the G step through the frozen D
    assert [seen.tolist() for seen in d.seen] == [real_y.tolist(), fake_y.tolist(), real_y.tolist(), fake_y.tolist()]


def test_unwrap_sees_through_data_parallel_wrappers_only():
    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = nn.Linear(1, 1)

    holder = Holder()
    assert unwrap(holder) is holder
    inner = nn.Linear(1, 1)
    assert unwrap(nn.DataParallel(inner)) is inner


def test_every_step_sees_its_progress_and_the_images_drawn_so_far(prepared):
    """The family's step gets (step index, train.steps, real images drawn before it); wgan-gp draws k = 5 batches of
    16 per step, and the count survives a checkpoint."""
    training = _training(prepared, "wgan-gp")
    seen = []
    step = training.model.step

    def recording(next_batch, rng, progress):
        seen.append(progress)
        return step(next_batch, rng, progress)

    training.model.step = recording
    training.run()
    assert [(p.step, p.total, p.images) for p in seen] == [(i, 6, i * 5 * 16) for i in range(6)]
    assert training.state_dict()["images_seen"] == 6 * 5 * 16
