"""The ``pix2pix`` family (Isola et al. 2017) and its networks: the PatchGAN's receptive field and logit grid per size
against hand counts; the U-Net's shapes, its skips carrying the input, the paper's 256×256 layout; dropout masks
from the step's RNG and none at evaluation; Eq. 4 by hand (λ, D's halved objective) and one step against a hand-made
Adam step; ``pix2pix-l1`` without D; the refusals; the family through the real loop on ``edges2digits`` with an
exact resume, and a short training that beats its own input (the edges) on L1 to the target."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from models.families import get_family, get_variant, variant_of
from models.families.pix2pix import pix2pix_objective
from models.family import (DataSpec, FamilyError, Hyperparameters, LossOptions, NetworkOptions, OptimiserOptions,
                           Progress, RunContext)
from models.patchgan import PatchDiscriminator, logit_grid, receptive_field, strided_layers
from models.unet import UNetGenerator, dropped
from tests.conftest import prepare_once, tiny_config, work_in_copy
from tests.test_step import _training
from tests.test_task_families import assert_same_state, stopped_and_resumed, timeless

FAMILY = get_family("pix2pix")


#: side → (stride-2 layers, receptive field, logit grid), counted by hand: r = 1 → 4 → 7 (the two stride-1 layers)
#: → 2·6 + 4 = 16 → 2·15 + 4 = 34 → 2·33 + 4 = 70; grid side/2^N → −1 → −1.
PATCHES = {8: (1, 16, 2), 16: (1, 16, 6), 32: (1, 16, 14), 64: (1, 16, 30), 128: (2, 34, 30), 256: (3, 70, 30)}


@pytest.mark.parametrize("side", sorted(PATCHES))
def test_the_patchgan_receptive_field_and_grid_per_size_are_the_hand_counts(side):
    layers, field, grid = PATCHES[side]
    assert (strided_layers(side), receptive_field(side), logit_grid(side)) == (layers, field, grid)
    assert field == 9 * 2 ** layers - 2


@pytest.mark.parametrize("side", [8, 16, 32])
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_the_patchgan_gives_one_logit_per_patch_of_its_grid(side, norm):
    grid = logit_grid(side)
    discriminator = PatchDiscriminator(4, side, width=4, norm=norm)
    assert discriminator(torch.randn(3, 4, side, side)).shape == (3, 1, grid, grid)


def test_the_patchgan_at_256_is_the_papers_70x70_d():
    """C64-C128-C256-C512 (strides 2, 2, 2, 1), then the logit layer; no norm on the first layer."""
    convs = [m for m in PatchDiscriminator(3, 256).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 64, 2), (64, 128, 2), (128, 256, 2), (256, 512, 1), (512, 1, 1)]
    norms = [m for m in PatchDiscriminator(3, 256).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [n.num_features for n in norms] == [128, 256, 512]


def test_a_logit_sees_exactly_its_receptive_field():
    """The gradient of the centre logit w.r.t. the input (positive weights: no cancellation) is non-zero on a square of
    the receptive field's side."""
    side = 128
    discriminator = PatchDiscriminator(1, side, width=2).eval()  # BatchNorm in eval mode: no mixing across pixels
    for module in discriminator.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.constant_(module.weight, 0.05)
    image = torch.randn(1, 1, side, side, requires_grad=True)
    grid = logit_grid(side)
    discriminator(image)[0, 0, grid // 2, grid // 2].backward()
    rows, cols = image.grad[0, 0].abs().gt(0).nonzero().unbind(1)
    assert int(rows.max() - rows.min()) + 1 == receptive_field(side) == int(cols.max() - cols.min()) + 1


def test_the_patchgan_refuses_an_unknown_norm_and_a_too_small_image():
    with pytest.raises(ValueError, match="norm 'group'"):
        PatchDiscriminator(3, 16, norm="group")
    with pytest.raises(ValueError, match="image_size 4"):
        PatchDiscriminator(3, 4)


#: (source channels, output channels) the U-Net is tested with.
CHANNELS = [(1, 1), (1, 3), (3, 1), (3, 3)]


@pytest.mark.parametrize("side", [8, 16, 32])
@pytest.mark.parametrize("inputs, outputs", CHANNELS)
def test_the_unet_maps_the_source_to_an_image_of_its_side_in_the_tanh_range(side, inputs, outputs):
    generator = UNetGenerator(inputs, outputs, side, width=4)
    assert len(generator.encoder) == len(generator.decoder) == int(math.log2(side))
    image = generator(torch.randn(2, inputs, side, side) * 3)
    assert image.shape == (2, outputs, side, side) and image.abs().max() <= 1


@pytest.mark.parametrize("side", [8, 16, 32])
@pytest.mark.parametrize("inputs, outputs", CHANNELS)
def test_the_skips_carry_the_input_past_a_cut_bottleneck(side, inputs, outputs):
    """With the innermost (1×1) layer's weights at zero nothing passes the bottleneck, yet every output pixel still
    depends on the input: through the skip connections alone. Seeded: a ReLU of a random tiny network can be off at
    one pixel for one input, and the test is about the wiring, not about such draws."""
    torch.manual_seed(side * 10 + inputs * 3 + outputs)
    generator = UNetGenerator(inputs, outputs, side, width=4).eval()
    with torch.no_grad():
        for parameter in generator.encoder[-1].parameters():
            parameter.zero_()
    source = torch.randn(1, inputs, side, side, requires_grad=True)
    image = generator(source)
    assert torch.equal(generator.encoder[-1](torch.randn(1, generator.encoder[-2][1].out_channels, 2, 2)),
                       torch.zeros(1, generator.encoder[-1][1].out_channels, 1, 1))
    for row, col in ((0, 0), (side // 2, side - 1)):
        (gradient,) = torch.autograd.grad(image[0, :, row, col].sum(), source, retain_graph=True)
        assert gradient.abs().sum() > 0, (row, col)


def test_the_unet_at_256_is_the_papers_generator():
    """Encoder C64-C128-C256-C512-C512-C512-C512-C512, decoder inputs CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128
    (appendix 6.1.1), BatchNorm on all but the first and the innermost encoder layers, 54.4 M parameters as the
    authors' unet_256."""
    generator = UNetGenerator(3, 3, 256)
    down = [m for m in generator.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    up = [m for m in generator.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in down] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert [m.in_channels for m in up] == [512, 1024, 1024, 1024, 1024, 512, 256, 128] and up[-1].out_channels == 3
    normed = [any(isinstance(m, torch.nn.BatchNorm2d) for m in layer) for layer in generator.encoder]
    assert normed == [False] + [True] * 6 + [False]
    assert generator.dropout_layers == 3 and generator.dropout == 0.5
    assert sum(p.numel() for p in generator.parameters()) == 54_414_531


def test_dropout_keeps_half_the_units_and_scales_them_by_two():
    kept = dropped(torch.ones(100_000), 0.5, torch.Generator().manual_seed(0))
    assert set(kept.unique().tolist()) == {0.0, 2.0} and kept.mean().item() == pytest.approx(1.0, abs=0.01)


def test_dropout_masks_come_from_the_rng_and_are_absent_at_evaluation():
    generator = UNetGenerator(1, 1, 16, width=4)
    source = torch.randn(4, 1, 16, 16)
    seeded = [generator(source, noise=torch.Generator().manual_seed(seed)) for seed in (7, 7, 8)]
    assert torch.equal(seeded[0], seeded[1]) and not torch.equal(seeded[0], seeded[2])
    assert not torch.equal(seeded[0], generator(source))  # no generator: no dropout
    rng = torch.Generator().manual_seed(7)
    generator.eval()
    state = rng.get_state()
    evaluated = generator(source, noise=rng)
    assert torch.equal(evaluated, generator(source)) and torch.equal(rng.get_state(), state)
    assert torch.equal(evaluated, FAMILY.generate(generator, torch.zeros(4, 0), {"source": source}))


def test_eq4_by_hand_on_fixed_logits_l1_weighted_and_d_halved():
    objective = pix2pix_objective(100.0)
    real, fake = torch.tensor([[0.5, -1.0], [2.0, 0.0]]), torch.tensor([[-0.5, 1.5], [0.0, -2.0]])
    bce_real = np.mean([math.log1p(math.exp(-v)) for v in (0.5, -1.0, 2.0, 0.0)])
    bce_fake = np.mean([math.log1p(math.exp(v)) for v in (-0.5, 1.5, 0.0, -2.0)])
    d_loss = objective.d_scale * objective.loss.d_loss(real, fake)
    assert d_loss.item() == pytest.approx(0.5 * (bce_real + bce_fake), rel=1e-6)
    image, target = torch.tensor([0.2, -0.4, 1.0, 0.0]), torch.tensor([0.0, 0.6, 0.5, 0.0])
    g_adversarial = np.mean([math.log1p(math.exp(-v)) for v in (-0.5, 1.5, 0.0, -2.0)])
    g_loss = (objective.adversarial_weight * objective.loss.g_loss(fake)
              + objective.content_weight * objective.content(image, target))
    assert g_loss.item() == pytest.approx(g_adversarial + 100 * (0.2 + 1.0 + 0.5) / 4, rel=1e-6)
    assert objective.pairs


def tiny_run(variant="pix2pix", shape=(3, 8, 8), source_shape=(1, 8, 8), **settings):
    data = DataSpec("images", shape, 10, source_shape=source_shape, pairing="paired")
    hyper = Hyperparameters(NetworkOptions(width=4), **settings)
    resolved = FAMILY.resolve(get_variant(variant), hyper, data, 1)
    return FAMILY.create(resolved, data, RunContext(seed=3)), resolved, data


def _trained_copy(network, loss_of, settings):
    """A copy of ``network`` after one Adam step of the run's settings on ``loss_of(copy)``: its named parameters."""
    network = copy.deepcopy(network)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.adam.lr, betas=settings.adam.betas)
    loss_of(network).backward()
    optimiser.step()
    return network.named_parameters()


def bce(logits, label):
    """Binary cross-entropy of logits against a constant label, averaged over the patches (the authors' GANLoss)."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(label)))


def test_one_step_is_the_halved_d_update_then_g_on_adversarial_plus_lambda_l1():
    run, settings, _ = tiny_run()
    source, x = torch.rand(6, 1, 8, 8) * 2 - 1, torch.rand(6, 3, 8, 8) * 2 - 1
    g0, d0 = copy.deepcopy(run.nets["generator"]), copy.deepcopy(run.nets["discriminator"])
    stats = run.step(lambda: {"source": source, "x": x}, torch.Generator().manual_seed(5), Progress(0, 1, 0))
    fake = g0(source, noise=torch.Generator().manual_seed(5))
    pair = {"source": source}
    d_objective = lambda d: 0.5 * (bce(d(x, pair), 1) + bce(d(fake.detach(), pair), 0))  # noqa: E731
    assert stats["loss_d"] == pytest.approx(d_objective(d0).item(), rel=1e-5)
    expected_d = dict(_trained_copy(d0, d_objective, settings))
    for name, p in run.nets["discriminator"].named_parameters():
        torch.testing.assert_close(p, expected_d[name])
    d1 = copy.deepcopy(run.nets["discriminator"])

    def g_objective(generator, l1_weight):
        fake = generator(source, noise=torch.Generator().manual_seed(5))
        adversarial = bce(d1(fake, pair), 1)
        content = (fake - x).abs().mean()
        return adversarial + l1_weight * content, adversarial, content

    _, adversarial, content = g_objective(copy.deepcopy(g0), 100)
    assert (stats["loss_g"], stats["content"]) == (pytest.approx(adversarial.item(), rel=1e-5),
                                                   pytest.approx(content.item(), rel=1e-5))
    expected_g, unweighted = (dict(_trained_copy(g0, lambda g: g_objective(g, weight)[0], settings))
                              for weight in (100, 1))
    trained = dict(run.nets["generator"].named_parameters())
    for name, p in trained.items():
        torch.testing.assert_close(p, expected_g[name])
    assert any(not torch.allclose(trained[name], unweighted[name]) for name in trained), "λ shows in the update"


def test_pix2pix_l1_has_no_discriminator_and_trains_g_on_l1_alone():
    run, settings, _ = tiny_run("pix2pix-l1", shape=(1, 8, 8))
    assert settings.l1_weight is None and set(run.modules()) == {"generator"}
    assert set(run.state_dict()["networks"]) == set(run.state_dict()["optimisers"]) == {"generator"}
    source, x = torch.rand(6, 1, 8, 8) * 2 - 1, torch.rand(6, 1, 8, 8) * 2 - 1
    g0 = copy.deepcopy(run.nets["generator"])
    stats = run.step(lambda: {"source": source, "x": x}, torch.Generator().manual_seed(5), Progress(0, 1, 0))
    content = (g0(source, noise=torch.Generator().manual_seed(5)) - x).abs().mean()
    assert stats == {"content": pytest.approx(content.item(), rel=1e-5)}
    expected = dict(_trained_copy(g0, lambda g: (g(source, noise=torch.Generator().manual_seed(5)) - x).abs().mean(),
                                  settings))
    for name, p in run.nets["generator"].named_parameters():
        torch.testing.assert_close(p, expected[name])


def test_only_the_papers_loss_is_offered_and_the_schedule_scales_every_rate():
    assert variant_of("pix2pix", "non-saturating") == "pix2pix" and variant_of("pix2pix", "pix2pix-l1") == "pix2pix-l1"
    with pytest.raises(KeyError, match="cannot train variant hinge: it offers pix2pix, pix2pix-l1 only"):
        variant_of("pix2pix", "hinge")
    run, settings, _ = tiny_run()
    run.scale_learning_rates(0.25)
    assert {g["lr"] for o in run.optimisers.values() for g in o.param_groups} == {settings.adam.lr / 4}


@pytest.mark.parametrize("settings, message", [
    ({"optimiser": OptimiserOptions(name="rmsprop")}, "train.optimiser rmsprop: family pix2pix trains with Adam"),
    ({"optimiser": OptimiserOptions(lr_d=1e-3)}, "train.lr_d 0.001: family pix2pix trains G and D at one rate"),
    ({"optimiser": OptimiserOptions(k_d_steps=2)}, "train.k_d_steps 2: family pix2pix takes one D update"),
    ({"loss": LossOptions(regulariser="r1")}, "loss.regulariser r1: family pix2pix trains Eq. 4 without"),
])
def test_settings_outside_the_papers_recipe_are_refused_naming_the_key(settings, message):
    with pytest.raises(FamilyError, match=message):
        tiny_run(**settings)


def test_data_and_run_settings_the_networks_cannot_take_are_refused():
    for shape in [(1, 12, 12), (1, 4, 4), (1, 8, 16)]:
        data = DataSpec("images", shape, 10, source_shape=shape, pairing="paired")
        with pytest.raises(FamilyError, match=f"power-of-two side of at least 8.*{shape}"):
            FAMILY.check_data(data)
    _, settings, data = tiny_run()
    with pytest.raises(FamilyError, match="leave train.ema_decay null and train.precision fp32"):
        FAMILY.create(settings, data, RunContext(ema_decay=0.999))


#: What the family sees of edges2digits at 8×8: Sobel edges (1 channel) → digit (1 channel).
FAMILY_DATA = DataSpec("images", (1, 8, 8), 10, source_shape=(1, 8, 8), pairing="paired")
#: Width 4 keeps a step in milliseconds; 6 steps with a checkpoint at step 3 (the resume point).
CONFIG = tiny_config(model={"width": 4})
#: 200 steps at 8×8 (a few seconds), scored once at the end on 100 held-out pairs.
SHORT = tiny_config(model={"width": 16}, train={"steps": 200, "batch_size": 32, "log_every": 50, "eval_every": 200,
                                               "checkpoint_every": 200})


@pytest.fixture(scope="module")
def prepared_edges(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_once(tmp_path_factory.mktemp("edges"), CONFIG, ["edges2digits"])


@pytest.fixture
def project(prepared_edges: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared_edges, tmp_path, monkeypatch)


@pytest.mark.parametrize("variant", ["pix2pix", "pix2pix-l1"])
def test_the_family_trains_through_the_loop_on_edges2digits_and_resumes_exactly(project, tmp_path, variant):
    straight = _training(CONFIG, variant, "edges2digits")
    history = straight.run()
    assert [row["step"] for row in history] == [2, 3, 4, 6]
    assert all(math.isfinite(row["l1_error100"]) for row in history if row["step"] in (3, 6))
    assert ("loss/d" in straight.metric_names(history[-1])) == (variant == "pix2pix")
    resumed = stopped_and_resumed(CONFIG, variant, "edges2digits", tmp_path / "ckpt")
    expected = assert_same_state(straight, resumed)
    assert any(".discriminator." in key for key in expected) == (variant == "pix2pix")
    assert timeless(straight.history) == timeless(resumed.history)
    assert_the_evaluation_rebuilds_the_sampler(straight)


def assert_the_evaluation_rebuilds_the_sampler(training):
    """G rebuilt from the settings and its weights in the state (BatchNorm statistics included), as the evaluation
    loads a generator file, samples as the trained G in eval mode."""
    rebuilt = FAMILY.build_sampler(training.job.settings, FAMILY_DATA)
    rebuilt.load_state_dict(FAMILY.sampler_weights(training.model.state_dict()))
    source = torch.rand(5, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(source), training.model.sampler().eval()(source))


def test_a_short_training_beats_its_own_input_on_l1_to_the_target(project):
    """After 200 steps G's outputs for the held-out edge maps are closer (L1) to their digits than the edge maps
    themselves: the in-training l1_error on 100 held-out pairs against the same pairs' L1 of source to target."""
    from pipeline.data.store import load_prepared

    history = _training(SHORT, "pix2pix", "edges2digits").run()
    data = load_prepared("edges2digits")
    edges_l1 = float(np.abs(data.test_source[:100] - data.test_x[:100]).mean())
    assert history[-1]["step"] == 200 and history[-1]["l1_error100"] < 0.7 * edges_l1, (history[-1], edges_l1)
