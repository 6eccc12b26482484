"""The ``cyclegan`` family (Zhu et al. 2017): the ResNet generator's shapes, sizes, residual blocks and reflection
padding against a hand-written forward pass; the cycle and identity losses and a whole step's objective by hand; the
image pool (fills, then shows a past image with probability ½, survives a state round trip); the family's
refusals, samplers and learning-rate scale; the family through the real loop on ``digits2bold``: an exact resume
with the pools in the checkpoint; and (slow) two DDP workers, each resuming its own pool exactly."""

from __future__ import annotations

import copy
import io
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from models.cyclegan_networks import ResidualBlock, ResnetGenerator, auto_residual_blocks, downsamplings
from models.families import get_family, get_variant
from models.families.cyclegan import CycleGANOptions, cycle_loss, identity_loss
from models.family import (DataSpec, FamilyError, Hyperparameters, NetworkOptions, OptimiserOptions, Progress,
                           RunContext)
from models.image_pool import ImagePool
from pipeline.training.checkpoint import load_checkpoint
from tests.conftest import prepare_once, tiny_config, work_in_copy
from tests.test_step import _training
from tests.test_task_families import _tensors, assert_same_state, stopped_and_resumed, timeless

FAMILY = get_family("cyclegan")
#: Both domains 1×8×8, as digits2bold at data.image_size 8.
DIGITS = DataSpec("images", (1, 8, 8), 10, source_shape=(1, 8, 8), pairing="unpaired")


def _hand_norm(x: torch.Tensor) -> torch.Tensor:
    """Instance norm by hand: each sample's channel to mean 0, (biased) variance 1, eps 1e-5."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    variance = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(variance + 1e-5)


def _reflect(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflection padding by hand: index i outside [0, n) reads pixel −i or 2(n − 1) − i."""
    n = x.shape[-1]
    index = torch.tensor([abs(i) if i < 0 else 2 * (n - 1) - i if i >= n else i for i in range(-pad, n + pad)])
    return x[..., index, :][..., index]


@pytest.mark.parametrize("side, channels_in, channels_out", [(8, 1, 1), (8, 3, 1), (16, 1, 3), (32, 3, 3)])
def test_the_generator_keeps_the_side_maps_the_channels_and_stays_in_tanhs_range(side, channels_in, channels_out):
    generator = ResnetGenerator(channels_in, channels_out, side, width=4)
    out = generator(torch.randn(2, channels_in, side, side) * 3)
    assert out.shape == (2, channels_out, side, side) and out.abs().max() <= 1.0
    strided = [m for m in generator.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    upsampling = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(strided) == len(upsampling) == downsamplings(side)
    blocks = [m for m in generator.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == auto_residual_blocks(side)
    assert blocks[0].body[1].in_channels == 4 * 2 ** downsamplings(side), "R at width · 2^d"


def test_the_size_rules_follow_the_paper_at_its_sides_and_shrink_below():
    assert [downsamplings(side) for side in (8, 12, 16, 32, 128, 256)] == [1, 1, 2, 2, 2, 2]
    assert [auto_residual_blocks(side) for side in (8, 16, 32, 64, 128, 256, 512)] == [1, 1, 2, 3, 6, 9, 9]


def test_every_convolution_pads_by_reflection_and_every_norm_is_parameter_free_instance_norm():
    generator = ResnetGenerator(1, 1, 16, width=4, blocks=2)
    convolutions = [m for m in generator.modules() if isinstance(m, nn.Conv2d)]
    reflections = [m for m in generator.modules() if isinstance(m, nn.ReflectionPad2d)]
    assert [conv.kernel_size for conv in convolutions if conv.stride == (1, 1)] == [(7, 7)] + [(3, 3)] * 4 + [(7, 7)]
    assert all(conv.padding == (0, 0) for conv in convolutions if conv.stride == (1, 1)), "no zero padding"
    assert [pad.padding for pad in reflections] == [(3, 3, 3, 3)] + [(1, 1, 1, 1)] * 4 + [(3, 3, 3, 3)]
    norms = [m for m in generator.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 1 + 2 + 2 * 2 + 2 and not any(norm.affine or norm.track_running_stats for norm in norms)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in generator.modules())
    weights = torch.cat([conv.weight.flatten() for conv in convolutions])
    assert weights.std().item() == pytest.approx(0.02, rel=0.1) and all((conv.bias == 0).all() for conv in convolutions)


def test_a_residual_block_is_its_input_plus_two_reflection_padded_convolutions_by_hand():
    torch.manual_seed(0)
    block = ResidualBlock(3)
    first, second = block.body[1], block.body[5]
    x = torch.randn(2, 3, 5, 5)
    hidden = F.relu(_hand_norm(F.conv2d(_reflect(x, 1), first.weight, first.bias)))
    expected = x + _hand_norm(F.conv2d(_reflect(hidden, 1), second.weight, second.bias))
    torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(_reflect(x, 2), F.pad(x, (2, 2, 2, 2), mode="reflect"))


def test_cycle_and_identity_losses_by_hand():
    a, b = torch.tensor([[0.0, 1.0], [-1.0, 0.5]]), torch.tensor([[1.0, 1.0], [0.0, -0.5]])
    back_a, back_b = torch.tensor([[0.5, 1.0], [-1.0, -0.5]]), torch.tensor([[1.0, 0.0], [0.0, -0.5]])
    # |0.5| + 0 + 0 + |−1| over 4, plus 0 + |−1| + 0 + 0 over 4
    assert cycle_loss(a, back_a, b, back_b).item() == pytest.approx(1.5 / 4 + 1.0 / 4)
    f_of_a, g_of_b = torch.tensor([[0.0, 0.0], [-1.0, 0.5]]), torch.tensor([[0.5, 1.5], [0.25, -0.5]])
    assert identity_loss(a, f_of_a, b, g_of_b).item() == pytest.approx((0.5 + 0.5 + 0.25) / 4 + 1.0 / 4)


def tiny_run(data: DataSpec = DIGITS, options: CycleGANOptions = CycleGANOptions(), **optimiser):
    hyper = Hyperparameters(NetworkOptions(width=4), optimiser=OptimiserOptions(**optimiser), options=options)
    settings = FAMILY.resolve(get_variant("cyclegan"), hyper, data, 1)
    return FAMILY.create(settings, data, RunContext(seed=1)), settings


def _domains(seed: int = 0, n: int = 6) -> dict[str, torch.Tensor]:
    rng = torch.Generator().manual_seed(seed)
    return {"source": torch.rand(n, 1, 8, 8, generator=rng) * 2 - 1, "x": torch.rand(n, 1, 8, 8, generator=rng) * 2 - 1}


def test_a_step_minimises_the_papers_objective_by_hand():
    """Before the step (pools empty: they show the new translations), with the run's own networks: G's terms are
    E[(D(G(a)) − 1)²] (no ½), λ L_cyc, ½λ L_identity; D's are ½E[(D(b) − 1)²] + ½E[D(G(a))²] per domain."""
    run, settings = tiny_run()
    batch = _domains()
    a, b = batch["source"], batch["x"]
    nets = run.modules()
    with torch.no_grad():
        fake_b, fake_a = nets["g_ab"](a), nets["g_ba"](b)
        adversarial = ((nets["d_b"](fake_b) - 1) ** 2).mean() + ((nets["d_a"](fake_a) - 1) ** 2).mean()
        cycle = (nets["g_ba"](fake_b) - a).abs().mean() + (nets["g_ab"](fake_a) - b).abs().mean()
        identity = (nets["g_ab"](b) - b).abs().mean() + (nets["g_ba"](a) - a).abs().mean()
        loss_d = sum(0.5 * ((d(real) - 1) ** 2).mean() + 0.5 * (d(fake) ** 2).mean()
                     for d, real, fake in ((nets["d_b"], b, fake_b), (nets["d_a"], a, fake_a)))
    stats = run.step(lambda: batch, torch.Generator().manual_seed(0), Progress(0, 10))
    assert stats["loss_g"] == pytest.approx(adversarial.item(), rel=1e-5)
    assert stats["cycle"] == pytest.approx(cycle.item(), rel=1e-5)
    assert stats["identity"] == pytest.approx(identity.item(), rel=1e-5)
    assert stats["loss_d"] == pytest.approx(loss_d.item(), rel=1e-5)
    assert (settings.cycle_weight, settings.identity_weight, settings.pool_size) == (10.0, 5.0, 50)
    assert all(len(pool.images) == 6 for pool in run.pools.values())


def _distinct(n: int, start: int) -> torch.Tensor:
    """``n`` 1×2×2 images, image i filled with the value ``start + i``."""
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def test_the_pool_shows_the_new_images_while_it_fills():
    pool, rng = ImagePool(5), torch.Generator().manual_seed(0)
    state = rng.get_state()
    for start in (0, 3):
        new = _distinct(2 if start == 3 else 3, start)
        assert torch.equal(pool.query(new, rng), new)
    assert torch.equal(rng.get_state(), state), "no draws while filling"
    assert [image[0, 0, 0].item() for image in pool.images] == [0, 1, 2, 3, 4]
    assert torch.equal(ImagePool(0).query(new, rng), new)
    crossing = ImagePool(5)
    shown = crossing.query(_distinct(7, 0), rng)
    assert torch.equal(shown[:5], _distinct(5, 0)), "the first five fill the pool"
    assert not torch.equal(rng.get_state(), state), "the last two arrive at a full pool and draw"


def test_a_full_pool_shows_a_past_image_with_probability_one_half():
    """n = 2,000 images, one by one, into a full pool of 50: the count of past images shown is Binomial(n, ½);
    5σ = 5·√(n/4) ≈ 112 bounds it but for a chance of 6e-7. Each shown past image was in the pool and the new one
    took its place."""
    size, n = 50, 2000
    pool, rng = ImagePool(size), torch.Generator().manual_seed(7)
    pool.query(_distinct(size, 0), rng)
    past = 0
    for value in range(size, size + n):
        before = {image[0, 0, 0].item() for image in pool.images}
        shown = pool.query(_distinct(1, value), rng)[0, 0, 0, 0].item()
        after = {image[0, 0, 0].item() for image in pool.images}
        if shown == value:
            assert after == before
        else:
            past += 1
            assert shown in before and after == before - {shown} | {value}
    assert len(pool.images) == size
    assert abs(past - n / 2) <= 5 * math.sqrt(n / 4), past


def test_the_pool_survives_a_state_round_trip():
    pool, rng = ImagePool(8), torch.Generator().manual_seed(3)
    pool.query(torch.randn(11, 1, 4, 4), rng)
    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)
    buffer.seek(0)
    restored = ImagePool(8)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    twin = torch.Generator().manual_seed(0)
    twin.set_state(rng.get_state())
    new = torch.randn(6, 1, 4, 4)
    assert torch.equal(restored.query(new, twin), pool.query(new, rng))
    assert all(torch.equal(x, y) for x, y in zip(restored.images, pool.images))
    empty = ImagePool(8)
    empty.load_state_dict(ImagePool(8).state_dict())
    assert empty.images == []


@pytest.mark.parametrize("data, problem", [
    (DataSpec("images", (1, 8, 8), 10, source_shape=(1, 16, 16), pairing="unpaired"), "one side in both domains"),
    (DataSpec("images", (1, 8, 12), 10, source_shape=(1, 8, 12), pairing="unpaired"), "square images"),
    (DataSpec("images", (1, 18, 18), 10, source_shape=(1, 18, 18), pairing="unpaired"), "multiple of 4"),
    (DataSpec("images", (1, 4, 4), 10, source_shape=(1, 4, 4), pairing="unpaired"), "at least 8 px"),
])
def test_shapes_the_networks_cannot_take_are_refused_naming_both_domains(data, problem):
    with pytest.raises(FamilyError, match=re.escape(problem)):
        FAMILY.check_data(data)


def test_settings_the_paper_does_not_train_with_are_refused_naming_the_key():
    three = DataSpec("images", (3, 8, 8), 10, source_shape=(1, 8, 8), pairing="unpaired")
    FAMILY.check_data(three)
    with pytest.raises(FamilyError, match=r"identity_factor 0.5 .* set it to 0"):
        tiny_run(three)
    assert tiny_run(three, CycleGANOptions(identity_factor=0.0))[1].identity_weight == 0.0
    for key, value in (("k_d_steps", 2), ("name", "rmsprop"), ("lr_d", 1e-3)):
        with pytest.raises(FamilyError, match=re.escape(f"train.{'optimiser' if key == 'name' else key} {value}")):
            tiny_run(**{key: value})
    settings = tiny_run()[1]
    for context, key in ((RunContext(ema_decay=0.999), "ema_decay"), (RunContext(precision="bf16"), "precision")):
        with pytest.raises(FamilyError, match=key):
            FAMILY.create(settings, DIGITS, context)


def test_learning_rates_scale_together_and_both_samplers_export():
    run, settings = tiny_run(options=CycleGANOptions(residual_blocks=3), lr_g=1e-3)
    assert settings.residual_blocks == 3 and settings.adam.lr == 1e-3 and settings.adam.betas == (0.5, 0.999)
    run.scale_learning_rates(0.25)
    assert [group["lr"] for opt in run.optimisers.values() for group in opt.param_groups] == [2.5e-4, 2.5e-4]
    run.step(lambda: _domains(), torch.Generator().manual_seed(0), Progress(0, 4))
    state, a = run.state_dict(), _domains(1)["source"]
    with torch.no_grad():
        for name, network in (("AtoB", "g_ab"), ("BtoA", "g_ba")):
            exported = FAMILY.build_sampler(settings, DIGITS, name)
            exported.load_state_dict(FAMILY.sampler_weights(state, name))
            expected = run.modules()[network](a)
            assert torch.equal(FAMILY.generate(exported, torch.empty(6, 0), {"source": a}), expected), name
            assert torch.equal(run.sampler(name)(a), expected)
    assert FAMILY.sampler_names() == ("AtoB", "BtoA") and FAMILY.latent_dim(settings) == 0


#: Pools of 50 at batch 16 fill during step 4: the step-3 checkpoint holds 48 images of each domain, and the
#: resumed run crosses into drawing. The linear decay halves the rate from step 3 on.
CONFIG = tiny_config(model={"width": 4}, train={"lr_decay": "linear", "lr_decay_start": 0.5},
                     classifier={"epochs": 1, "width": 4, "feature_dim": 4})


@pytest.fixture(scope="module")
def prepared_domains(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_once(tmp_path_factory.mktemp("digits2bold"), CONFIG, ["digits2bold"])


@pytest.fixture
def project(prepared_domains: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared_domains, tmp_path, monkeypatch)


def test_the_family_trains_through_the_loop_and_resumes_exactly_with_its_pools(project, tmp_path):
    straight = _training(CONFIG, "cyclegan", "digits2bold")
    history = straight.run()
    assert [row["step"] for row in history] == [2, 3, 4, 6]
    assert all(math.isfinite(row["label_preservation100"]) for row in history if row["step"] in (3, 6))
    assert all(row["cycle"] > 0 and row["identity"] > 0 for row in history)
    assert "loss/cycle" in straight.metric_names(history[-1])
    assert all(len(pool.images) == 50 for pool in straight.model.pools.values())
    resumed = stopped_and_resumed(CONFIG, "cyclegan", "digits2bold", tmp_path / "ckpt")
    stopped = load_checkpoint(tmp_path / "ckpt")["model"]["pools"]
    assert [len(stopped[0][domain]["images"]) for domain in "ab"] == [48, 48], "resumed while the pools filled"
    expected = assert_same_state(straight, resumed)
    assert {".pools.0.a.images", ".pools.0.b.images"} <= set(expected)
    assert timeless(straight.history) == timeless(resumed.history)


def _domain_stream(seed: int):
    rng = torch.Generator().manual_seed(seed)
    return lambda: _domains(int(torch.randint(1 << 30, (), generator=rng)), n=4)


def _ddp_worker(rank: int, store: str) -> None:
    """Three steps, the checkpoint (a collective), three more; then a fresh run resumed from the checkpoint with
    the same data and rng: its weights and pools must equal the first run's."""
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        hyper = Hyperparameters(NetworkOptions(width=4), options=CycleGANOptions(pool_size=10))
        settings = FAMILY.resolve(get_variant("cyclegan"), hyper, DIGITS, 2)
        context = RunContext(seed=0, wrap=DistributedDataParallel)
        runs, streams = [FAMILY.create(settings, DIGITS, context)], [_domain_stream(rank)]
        rngs = [torch.Generator().manual_seed(rank)]
        for step in range(3):
            runs[0].step(streams[0], rngs[0], Progress(step, 6))
        state, resumed_rng = copy.deepcopy(runs[0].state_dict()), torch.Generator()
        resumed_rng.set_state(rngs[0].get_state())
        assert len(state["pools"]) == 2 and torch.equal(state["pools"][rank]["b"]["images"],
                                                        torch.stack(runs[0].pools["b"].images))
        runs.append(FAMILY.create(settings, DIGITS, context))
        runs[1].load_state_dict(state)
        streams.append(_domain_stream(rank))
        for _ in range(3):
            streams[1]()
        for run, stream, rng in zip(runs, streams, (rngs[0], resumed_rng)):
            for step in range(3, 6):
                run.step(stream, rng, Progress(step, 6))
        expected, observed = _tensors(runs[0].state_dict()), _tensors(runs[1].state_dict())
        assert all(torch.equal(value, expected[key]) for key, value in observed.items())
        assert not torch.equal(state["pools"][0]["a"]["images"], state["pools"][1]["a"]["images"])
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ddp_workers_checkpoint_their_own_pools_and_resume_exactly(tmp_path):
    """Each worker draws its own pool from its own rng; the checkpoint gathers both and each resumes its own."""
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"),), nprocs=2)
