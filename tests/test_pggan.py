"""The ``pggan`` family (Karras et al. 2018): its layers against hand computations (equalised learning rate, pixel
norm, minibatch standard deviation, the drift term), the growing schedule by hand, the fade-in of G, D and the reals
at α = 0 and α = 1, the checkpointed growth, the figure of samples at every resolution; through the real loop: a
short training with its in-training metric, and a run stopped mid-fade resuming to the same weights as one never
stopped; two DDP workers training across a growth step (slow)."""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch.nn import functional as F

from models.drift import WassersteinDriftLoss
from models.equalized import EqualizedConv2d, EqualizedLinear, pixel_norm
from models.families import get_family, get_variant
from models.family import DataSpec, Hyperparameters, NetworkOptions, Progress, RunContext
from models.growth import GrowthSchedule, GrowthState
from models.minibatch_stddev import minibatch_stddev
from models.progressive import ProgressiveDiscriminator, ProgressiveGenerator, ProgressiveSpec, shown_reals
from pipeline.config import ConfigError
from tests.conftest import prepare_once, tiny_config, work_in_copy
from tests.test_step import _training
from tests.test_task_families import assert_same_state, stopped_and_resumed

#: Batch 16 on digits (8×8, one level above 4×4): 16 images a step, so steps 0-1 train 4×4, steps 2-4 fade 8×8 in
#: (α = 0, 1/3, 2/3) and step 5 stabilises it; the step-3 checkpoint of stopped_and_resumed falls mid-fade.
CONFIG = tiny_config(families={"pggan": {"fade_images": 48, "stable_images": 32, "ema_decay": 0.9}},
                     classifier={"epochs": 1, "width": 4, "feature_dim": 4})
SPEC = ProgressiveSpec((3, 16, 16), z_dim=4, width=8)


def test_equalized_layers_scale_their_stored_weights_at_run_time():
    torch.manual_seed(0)
    big = EqualizedLinear(256, 256)
    stored = big.weight.detach()
    assert abs(float(stored.mean())) < 0.01 and abs(float(stored.std()) - 1.0) < 0.01, "stored w ~ N(0, 1)"
    assert torch.equal(big.bias, torch.zeros(256))
    linear = EqualizedLinear(8, 1)
    with torch.no_grad():
        linear.weight.fill_(1.0)
        linear.bias.fill_(0.25)
    x = torch.arange(1.0, 9.0)[None]
    # c = √2 / √8 = 0.5: y = 0.5 · (1 + 2 + … + 8) + 0.25
    assert torch.allclose(linear(x), torch.tensor([[0.5 * 36 + 0.25]]))
    conv = EqualizedConv2d(2, 3, 3, gain=1.0)
    image = torch.randn(1, 2, 5, 5)
    effective = conv.weight / math.sqrt(2 * 3 * 3)
    assert torch.allclose(conv(image), F.conv2d(image, effective, conv.bias, padding=1), atol=1e-6)
    conv(image).sum().backward()
    stored_grad = conv.weight.grad.clone()
    free = effective.detach().requires_grad_(True)
    F.conv2d(image, free, padding=1).sum().backward()
    assert torch.allclose(stored_grad, free.grad / math.sqrt(18), atol=1e-6), "∂L/∂w = c · ∂L/∂(c·w)"


def test_pixel_norm_divides_each_pixel_by_its_root_mean_square_over_features():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]]).T.reshape(1, 2, 2, 1)  # pixel 0: (3, 4); pixel 1: (0, 0)
    out = pixel_norm(x)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([3.0, 4.0]) / math.sqrt(12.5 + 1e-8))
    assert torch.equal(out[0, :, 1, 0], torch.zeros(2))


def test_minibatch_stddev_appends_each_groups_mean_standard_deviation():
    x = torch.tensor([[1.0, 2.0], [0.0, 5.0], [3.0, -2.0], [7.0, 1.0],
                      [4.0, 4.0], [2.0, 0.0], [-1.0, 3.0], [6.0, 2.0]]).reshape(8, 2, 1, 1)
    out = minibatch_stddev(x)
    assert out.shape == (8, 3, 1, 1) and torch.equal(out[:, :2], x)
    for group in (0, 1):  # the reference code's reshape to [4, 2, ...]: sample n is in group n mod 2
        members = [n for n in range(8) if n % 2 == group]
        sigma = [math.sqrt(statistics.pvariance([float(x[n, c]) for n in members]) + 1e-8) for c in range(2)]
        for n in members:
            assert math.isclose(float(out[n, 2]), sum(sigma) / 2, rel_tol=1e-6)
    pair = minibatch_stddev(torch.tensor([1.0, 3.0]).reshape(2, 1, 1, 1))  # a batch below the group size: one group
    assert torch.allclose(pair[:, 1].flatten(), torch.full((2,), math.sqrt(1.0 + 1e-8)))
    with pytest.raises(ValueError, match="multiple of its group size 4"):
        minibatch_stddev(torch.zeros(6, 1, 2, 2))


def test_the_schedule_by_hand():
    schedule = GrowthSchedule(levels=2, fade_images=10, stable_images=20)
    expected = {0: (0, 0, 1.0), 19: (0, 0, 1.0), 20: (1, 1, 0.0), 25: (1, 1, 0.5), 30: (2, 1, 1.0), 49: (2, 1, 1.0),
                50: (3, 2, 0.0), 57: (3, 2, 0.7), 60: (4, 2, 1.0), 10**9: (4, 2, 1.0)}
    for images, (phase, level, alpha) in expected.items():
        state = schedule.at(images)
        assert (state.phase, state.level) == (phase, level) and math.isclose(state.alpha, alpha), images
    assert schedule.at(25).side == 8 and schedule.at(60).side == 16 and schedule.images_to_final_side == 60


@pytest.mark.parametrize("side", [8, 16, 32])
def test_the_default_schedule_reaches_the_datas_side_in_a_1500_step_run_with_time_to_stabilise(side):
    options = get_family("pggan").options()
    schedule = GrowthSchedule(int(math.log2(side // 4)), options.fade_images, options.stable_images)
    run_images = 1500 * 64
    assert schedule.at(run_images - 1).side == side
    assert run_images - schedule.images_to_final_side >= options.stable_images


def test_the_drift_term_by_hand():
    real, fake = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 1.0])
    assert math.isclose(float(WassersteinDriftLoss().d_loss(real, fake)), 0.5 - 2.0 + 1e-3 * 14 / 3, rel_tol=1e-6)
    assert float(WassersteinDriftLoss().g_loss(fake)) == -0.5


def _grown(network, level: int, alpha: float):
    network.set_growth(GrowthState(2 * level - (alpha < 1), level, alpha))
    return network


def test_gs_fade_in_starts_at_the_lower_level_upsampled_and_ends_at_the_new_block_alone():
    torch.manual_seed(0)
    generator, z = ProgressiveGenerator(SPEC), torch.randn(5, 4)
    lower = _grown(generator, 1, 1.0)(z)  # 8×8 upsampled to 16×16
    assert torch.equal(_grown(generator, 2, 0.0)(z), lower)
    new_block = generator.to_rgb[2](generator.blocks[1](generator.blocks[0](generator.base(z))))
    assert torch.equal(_grown(generator, 2, 1.0)(z), new_block)
    assert torch.allclose(_grown(generator, 2, 0.25)(z), 0.75 * lower + 0.25 * new_block, atol=1e-6)
    assert torch.equal(lower, F.interpolate(generator.to_rgb[1](generator.blocks[0](generator.base(z))),
                                            scale_factor=2, mode="nearest"))


def test_ds_fade_in_starts_at_the_lower_level_and_ends_at_the_new_block_alone():
    torch.manual_seed(0)
    discriminator, x = ProgressiveDiscriminator(SPEC), torch.randn(8, 3, 16, 16)
    lower = _grown(discriminator, 1, 1.0)(x)
    torch.testing.assert_close(_grown(discriminator, 2, 0.0)(x), lower)
    d = discriminator
    new_block = d.final(d.blocks[0](d.blocks[1](d.from_rgb[2](x)))).reshape(-1)
    assert torch.equal(_grown(discriminator, 2, 1.0)(x), new_block)


def test_the_reals_shown_to_d_fade_from_the_lower_level_to_the_current_one():
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    pooled = x.reshape(1, 1, 4, 2, 4, 2).mean(dim=(3, 5))  # 2×2 averages by hand
    lower = pooled.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.equal(shown_reals(x, 1, GrowthState(1, 1, 0.0)), lower)
    assert torch.equal(shown_reals(x, 1, GrowthState(2, 1, 1.0)), x)
    assert torch.allclose(shown_reals(x, 1, GrowthState(1, 1, 0.5)), 0.5 * lower + 0.5 * x)
    assert torch.equal(shown_reals(x, 1, GrowthState(0, 0, 1.0)), lower), "level 0: 4×4 upsampled"


def _run(spec_shape=(1, 8, 8), **options):
    family, data = get_family("pggan"), DataSpec("images", spec_shape)
    hyper = Hyperparameters(network=NetworkOptions(width=8, z_dim=4), options=family.options(**options))
    settings = family.resolve(get_variant("pggan"), hyper, data, 1)
    return family, settings, family.create(settings, data, RunContext())


def test_a_checkpoint_whose_growth_disagrees_with_the_schedule_is_refused():
    _, _, run = _run(fade_images=10, stable_images=10)
    batch = torch.randn(8, 1, 8, 8)
    stats = run.step(lambda: {"x": batch}, torch.Generator().manual_seed(0), Progress(0, 4, 15))
    assert (stats["resolution"], stats["alpha"]) == (8.0, 0.5)
    state = run.state_dict()
    assert state["growth"] == {"images": 15, "phase": 1, "level": 1, "alpha": 0.5}
    assert int(state["generator"]["level"]) == 1 and float(state["ema"]["alpha"]) == 0.5, "the nets carry it too"
    family, settings, _ = _run(fade_images=10, stable_images=10)
    sampler = family.build_sampler(settings, DataSpec("images", (1, 8, 8)))
    sampler.load_state_dict(family.sampler_weights(state))
    z = torch.randn(4, 4)
    assert sampler.growth() == (1, 0.5) and torch.equal(sampler(z), run.sampler()(z)), "evaluation samples mid-fade"
    state["growth"]["alpha"] = 0.25
    with pytest.raises(ValueError, match="disagrees with the schedule"):
        _run(fade_images=10, stable_images=10)[2].load_state_dict(state)


def test_the_figure_shows_each_level_grown_with_its_own_to_rgb():
    torch.manual_seed(0)
    family, settings, run = _run((3, 16, 16))
    generator = run.sampler()
    generator.set_growth(GrowthState(3, 2, 0.5))
    with torch.no_grad():
        (figure,) = family.illustrations(generator, 4, DataSpec("images", (3, 16, 16)), torch.Generator().manual_seed(1))
        z = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
        generator.set_growth(GrowthState(4, 2, 1.0))
        final = generator(z)
    assert figure.images.shape == (4, 3, 3, 16, 16) and figure.column_labels == ("4×4", "8×8", "16×16")
    assert torch.allclose(figure.images[:, 2], final), "in G's own range, as the sample grid draws it"


REFUSED = {"ring8": "ring8 × pggan: family pggan grows image nets and needs images, got points of shape (2,)"}


def test_params_refuse_pggan_on_points_and_with_another_regulariser():
    with pytest.raises(ConfigError, match=re.escape(REFUSED["ring8"])):
        tiny_config(benchmark={"datasets": ["ring8"], "variants": ["pggan"]})
    with pytest.raises(ConfigError, match="loss.regulariser: family pggan trains WGAN-GP"):
        tiny_config(benchmark={"datasets": ["digits"], "variants": ["pggan"]}, loss={"regulariser": "weight-clipping"})


@pytest.fixture(scope="module")
def prepared_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_once(tmp_path_factory.mktemp("digits"), CONFIG, ["digits"])


@pytest.fixture
def project(prepared_digits: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared_digits, tmp_path, monkeypatch)


def test_pggan_trains_with_its_metric_and_a_run_stopped_mid_fade_resumes_exactly(project, tmp_path):
    straight = _training(CONFIG, "pggan", "digits")
    history = straight.run()
    assert all(math.isfinite(row["fid_clf100"]) for row in history if row["step"] in (3, 6))
    by_step = {row["step"]: row for row in history}
    assert (by_step[2]["resolution"], by_step[2]["alpha"]) == (4.0, 1.0)
    assert (by_step[3]["resolution"], by_step[3]["alpha"]) == (8.0, 0.0)
    assert by_step[4]["resolution"] == 8.0 and math.isclose(by_step[4]["alpha"], 1 / 3)
    assert straight.metric_names(by_step[6])["pggan/resolution"] == 8.0
    resumed = stopped_and_resumed(CONFIG, "pggan", "digits", tmp_path / "ckpt")
    assert_same_state(straight, resumed)
    assert resumed.model.state_dict()["growth"] == {"images": 80, "phase": 2, "level": 1, "alpha": 1.0}


WORLD = 2


def _ddp_worker(rank: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        family, data = get_family("pggan"), DataSpec("images", (1, 8, 8))
        settings = family.resolve(get_variant("pggan"), Hyperparameters(network=NetworkOptions(width=8, z_dim=4)),
                                  data, WORLD)
        settings = dataclasses.replace(settings, fade_images=32, stable_images=32)
        run = family.create(settings, data, RunContext(wrap=torch.nn.parallel.DistributedDataParallel))
        reals, rng = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(rank)), torch.Generator()
        sides = [run.step(lambda: {"x": reals}, rng, Progress(step, 6, 16 * step))["resolution"] for step in range(6)]
        torch.save({"sides": sides, **{f"g.{k}": v for k, v in run.modules()["generator"].state_dict().items()}},
                   Path(out) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_ddp_workers_train_across_a_growth_step_and_stay_identical(tmp_path):
    """DDP without find_unused_parameters (as ray.train.torch.prepare_model builds it) needs every parameter's
    gradient each step: the nets keep their dormant blocks in the graph with weight zero."""
    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    assert ranks[0]["sides"] == [4.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    for key, value in ranks[0].items():
        if key != "sides":
            assert torch.equal(value, ranks[1][key]), key
