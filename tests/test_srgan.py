"""The ``srgan`` family (Ledig et al. 2017): sub-pixel upsampling against ``pixel_shuffle`` and a hand-built channel
arrangement, G's and D's shapes (D's strides at small sides), the content losses by hand, one step equal to the
objective's Adam updates computed by hand (10⁻³ weighting), the pre-training / adversarial / rate-drop schedule, the
VGG19 loading path with random torchvision weights, ``srresnet`` without D, the refusals, and the family through the
real loop: trained, scored in training, resumed bit for bit, its generator exported; ``srgan-clf`` with the domain
classifier."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from models.families import get_family, get_variant
from models.families.srgan import SRGANOptions, in_adversarial_phase, learning_rate_drop
from models.family import DataSpec, FamilyError, Hyperparameters, NetworkOptions, OptimiserOptions, Progress, RunContext
from models.sr_content import FeatureContent, VGGWeightsError, load_vgg19_features
from models.srgan_networks import (SRGANDiscriminator, SRResNet, SubPixelUpsampler, convolved_side,
                                   discriminator_strides, upsampling_blocks)
from tests.conftest import prepare_once, tiny_config, work_in_copy
from tests.test_step import _training
from tests.test_task_families import assert_same_state, stopped_and_resumed, timeless

FAMILY = get_family("srgan")
TINY = SRGANOptions(residual_blocks=1, pretrain_share=0.5)
#: MSE pre-training at steps 0-1, the GAN from step 2 (after the step-3 checkpoint too), rates ÷10 from step 4.
CONFIG = tiny_config(model={"width": 8}, classifier={"epochs": 1, "width": 4, "feature_dim": 4},
                     families={"srgan": {"residual_blocks": 1, "pretrain_share": 0.3},
                               "srgan-clf": {"residual_blocks": 1, "pretrain_share": 0.3}})


def sr_data(channels=1, side=8, scale=2, classes=10, source_channels=None):
    low = side // scale
    return DataSpec("images", (channels, side, side), classes, (source_channels or channels, low, low), "paired")


def tiny_run(variant="srgan", data=None, options=TINY, context=None, family=FAMILY):
    data = data or sr_data()
    settings = family.resolve(get_variant(variant), Hyperparameters(NetworkOptions(width=4), options=options), data, 1)
    return family.create(settings, data, context or RunContext(seed=3)), settings, data


def batches(data, seed=0):
    rng = torch.Generator().manual_seed(seed)
    return lambda: {"x": torch.rand(6, *data.shape, generator=rng) * 2 - 1,
                    "source": torch.rand(6, *data.source_shape, generator=rng) * 2 - 1}


def test_sub_pixel_upsampling_puts_conv_channel_4c_plus_2i_plus_j_at_2h_plus_i_2w_plus_j():
    upsampler = SubPixelUpsampler(width=2)
    conv, prelu = upsampler[0], upsampler[2]
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        for k in range(8):  # conv channel k = (k + 1) × input channel k // 4 (the 3×3 kernel's centre tap)
            conv.weight[k, k // 4, 1, 1] = k + 1.0
        prelu.weight.fill_(1.0)  # PReLU as the identity
        x = torch.randn(1, 2, 3, 3)
        out = upsampler(x)
        assert out.shape == (1, 2, 6, 6)
        for c in range(2):
            for i in range(2):
                for j in range(2):
                    torch.testing.assert_close(out[0, c, i::2, j::2], (4 * c + 2 * i + j + 1) * x[0, c])
        torch.testing.assert_close(out, F.pixel_shuffle(conv(x), 2))


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("side", [8, 16, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_generator_upsamples_by_its_scale_into_minus_one_one(scale, side, channels):
    generator = SRResNet(channels, width=4, residual_blocks=2, scale=scale)
    out = generator(torch.rand(2, channels, side // scale, side // scale) * 2 - 1)
    assert out.shape == (2, channels, side, side) and out.abs().max() <= 1.0
    assert len(generator.upsample) == upsampling_blocks(scale) == int(math.log2(scale))


def test_only_powers_of_two_have_sub_pixel_blocks():
    assert [upsampling_blocks(s) for s in (2, 4, 8)] == [1, 2, 3]
    for scale in (1, 3, 6):
        with pytest.raises(ValueError, match=f"not ×{scale}"):
            upsampling_blocks(scale)


@pytest.mark.parametrize("side, strides, last", [(8, (1, 2, 1, 2, 1, 1, 1, 1), 2), (16, (1, 2, 1, 2, 1, 2, 1, 1), 2),
                                                 (32, (1, 2) * 4, 2), (96, (1, 2) * 4, 6)])
def test_discriminator_halves_down_to_two_pixels_and_gives_one_logit(side, strides, last):
    assert discriminator_strides(side) == strides and convolved_side(side, strides) == last
    if side <= 32:
        for channels in (1, 3):
            d = SRGANDiscriminator((channels, side, side), width=4)
            assert d(torch.randn(3, channels, side, side)).shape == (3,)


def test_discriminator_has_the_papers_widths_at_width_64():
    d = SRGANDiscriminator((3, 32, 32), width=64)
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.features) == 7 and convs[0].bias is not None
    assert [m.out_features for m in d.dense if isinstance(m, nn.Linear)] == [1024, 1]


def test_content_losses_by_hand():
    fake = torch.tensor([[[[0.5, -0.5], [1.0, 0.0]]]])
    real = torch.tensor([[[[0.0, 0.0], [1.0, 1.0]]]])
    phi = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        phi[1].weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 0.0, 0.0]]))
    # pixel MSE (0.25 + 0.25 + 0 + 1) / 4 = 0.375; φ(fake) = (1, 1), φ(real) = (2, 0): feature MSE (1 + 1) / 2 = 1
    assert F.mse_loss(fake, real).item() == pytest.approx(0.375)
    assert FeatureContent(phi, 0.1, pixel_weight=1.0)(fake, real).item() == pytest.approx(0.375 + 0.1 * 1.0)
    assert FeatureContent(phi, 1.0, pixel_weight=0.0)(fake, real).item() == pytest.approx(1.0)


def test_an_adversarial_step_is_adam_on_the_objective_computed_by_hand():
    """D: Adam on −log σ(D(x)) − log(1 − σ(D(G(s)))); then G: Adam on MSE(G(s), x) + 10⁻³ · (−log σ(D(G(s))))."""
    run, settings, data = tiny_run()
    generator, discriminator = (copy.deepcopy(run.modules()[name]) for name in ("generator", "discriminator"))
    opt_g, opt_d = (torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.999))
                    for net in (generator, discriminator))
    batch = batches(data)()
    stats = run.step(lambda: batch, torch.Generator(), Progress(2, 4))  # the first GAN step: no drop yet
    fake = generator(batch["source"])
    loss_d = (-F.logsigmoid(discriminator(batch["x"])).mean()
              - torch.log1p(-torch.sigmoid(discriminator(fake.detach()))).mean())
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    adversarial = -F.logsigmoid(discriminator(fake)).mean()
    content = ((fake - batch["x"]) ** 2).mean()
    opt_g.zero_grad()
    (content + 1e-3 * adversarial).backward()
    opt_g.step()
    assert stats["adversarial"] == 1.0 and settings.adversarial_weight == 1e-3
    for name, value in (("loss_d", loss_d), ("loss_g", adversarial), ("content", content)):
        assert stats[name] == pytest.approx(value.item(), rel=1e-5), name
    for name, network in (("generator", generator), ("discriminator", discriminator)):
        for key, value in network.state_dict().items():
            torch.testing.assert_close(run.modules()[name].state_dict()[key], value, msg=f"{name}.{key}")


def test_pre_training_then_the_gan_then_a_tenth_of_the_rate():
    settings = tiny_run()[1]
    phases = [(in_adversarial_phase(settings, Progress(s, 8)), learning_rate_drop(settings, Progress(s, 8)))
              for s in range(8)]
    assert phases == [(False, 1.0)] * 4 + [(True, 1.0)] * 2 + [(True, 0.1)] * 2
    run, _, data = tiny_run()
    before = {k: v.clone() for k, v in run.modules()["discriminator"].state_dict().items()}
    stats = run.step(batches(data), torch.Generator(), Progress(1, 8))
    assert stats.keys() == {"content", "adversarial"} and stats["adversarial"] == 0.0
    assert all(torch.equal(v, run.modules()["discriminator"].state_dict()[k]) for k, v in before.items()), "D rests"
    run.scale_learning_rates(0.5)
    assert run.step(batches(data), torch.Generator(), Progress(7, 8))["adversarial"] == 1.0
    assert {group["lr"] for opt in run.optimisers.values() for group in opt.param_groups} == {1e-4 * 0.5 * 0.1}


def test_srresnet_trains_g_alone_at_one_rate_on_its_content():
    run, settings, data = tiny_run("srresnet")
    assert set(run.modules()) == {"generator"} and set(run.state_dict()["optimisers"]) == {"generator"}
    assert not settings.adversarial and settings.adversarial_weight == 0.0 and settings.pretrain_share == 0.0
    for step in (0, 7):
        assert run.step(batches(data), torch.Generator(), Progress(step, 8)).keys() == {"content", "adversarial"}
    assert run.optimisers["generator"].param_groups[0]["lr"] == 1e-4


def test_the_vgg19_content_loads_torchvision_weights_phi54_on_imagenet_normalised_images(tmp_path):
    """Random torchvision weights (nothing downloaded): φ5,4 is features[:36]; grey images are repeated to RGB."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    reference = torchvision.models.vgg19(weights=None)
    reference.classifier = nn.Linear(2, 2)  # its keys are ignored; a small one keeps the file small
    path = tmp_path / "vgg19.pth"
    torch.save(reference.state_dict(), path)
    features = load_vgg19_features(str(path))
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference.features[:36](((images + 1) / 2 - mean) / std) / 12.75
        torch.testing.assert_close(features(images), expected)
        torch.testing.assert_close(features(images[:, :1]), features(images[:, :1].repeat(1, 3, 1, 1)))
    assert not any(p.requires_grad for p in features.parameters())
    data = sr_data(side=16, scale=4)
    run = tiny_run(data=data, options=SRGANOptions(residual_blocks=1, content="vgg19", vgg19_weights=str(path),
                                                   pretrain_share=0.0))[0]
    assert math.isfinite(run.step(batches(data), torch.Generator(), Progress(0, 2))["content"])
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    for bad, reason in ((tmp_path / "missing.pth", "cannot be read"), (tmp_path / "other.pth", "lacks the features")):
        with pytest.raises(VGGWeightsError, match=reason):
            load_vgg19_features(str(bad))
    with pytest.raises(FamilyError, match=r"families.srgan.vgg19_weights: .*missing.pth cannot be read"):
        tiny_run(data=data, options=SRGANOptions(content="vgg19", vgg19_weights=str(tmp_path / "missing.pth")))


@pytest.mark.parametrize("options, data, message", [
    (SRGANOptions(content="vgg19"), sr_data(side=16), "vgg19 needs VGG19's ImageNet weights"),
    (SRGANOptions(content="vgg19", vgg19_weights="w.pth"), sr_data(side=8), "images of side 16 or more"),
    (SRGANOptions(content="mse+classifier"), sr_data(), "goes only to family srgan-clf"),
])
def test_contents_it_cannot_train_are_refused(options, data, message):
    with pytest.raises(FamilyError, match=message):
        FAMILY.resolve(get_variant("srgan"), Hyperparameters(options=options), data, 1)


@pytest.mark.parametrize("data, message", [
    (sr_data(channels=1, source_channels=3), "needs them with x's 1 channel"),
    (DataSpec("images", (1, 12, 12), 10, (1, 4, 4), "paired"), r"\(4, 4\) → x \(12, 12\) is not one"),
    (DataSpec("images", (1, 8, 8), 10, (1, 3, 3), "paired"), r"\(3, 3\) → x \(8, 8\) is not one"),
])
def test_inputs_of_other_channels_or_scales_are_refused(data, message):
    with pytest.raises(FamilyError, match=message):
        FAMILY.check_data(data)


def test_other_optimisers_ema_and_mixed_precision_are_refused():
    for chosen in (OptimiserOptions(k_d_steps=2), OptimiserOptions(name="rmsprop")):
        with pytest.raises(FamilyError, match="alternates one D and one G update with Adam"):
            FAMILY.resolve(get_variant("srgan"), Hyperparameters(optimiser=chosen), sr_data(), 1)
    for context in (RunContext(ema_decay=0.999), RunContext(precision="bf16")):
        with pytest.raises(FamilyError, match="leave train.ema_decay null and train.precision fp32"):
            tiny_run(context=context)
    with pytest.raises(FamilyError, match="only labelled image data has"):
        get_family("srgan-clf").check_data(sr_data(channels=3, classes=0))


@pytest.fixture(scope="module")
def prepared_sr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_once(tmp_path_factory.mktemp("digits-sr2"), CONFIG, ["digits-sr2"])


@pytest.fixture
def project(prepared_sr: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared_sr, tmp_path, monkeypatch)


def test_srgan_trains_through_the_loop_resumes_exactly_and_exports_its_generator(project, tmp_path):
    straight = _training(CONFIG, "srgan", "digits-sr2")
    history = straight.run()
    assert [row["adversarial"] for row in history] == [0.0, 1.0, 1.0, 1.0]  # rows at steps 2 (0, 1), 3, 4, 6
    assert all(math.isfinite(row["psnr100"]) for row in history if row["step"] in (3, 6))
    assert straight.metric_names(history[-1])["srgan/adversarial"] == 1.0
    resumed = stopped_and_resumed(CONFIG, "srgan", "digits-sr2", tmp_path / "resumed")
    assert_same_state(straight, resumed)
    assert timeless(straight.history) == timeless(resumed.history)
    exported = FAMILY.build_sampler(straight.job.settings, straight.job.data)
    exported.load_state_dict(FAMILY.sampler_weights(straight.model.state_dict()))
    sources = torch.rand(5, 1, 4, 4) * 2 - 1
    with torch.no_grad():
        trained = FAMILY.generate(straight.model.sampler().eval(), torch.zeros(5, 0), {"source": sources})
        assert trained.shape == (5, 1, 8, 8)
        assert torch.equal(FAMILY.generate(exported.eval(), torch.zeros(5, 0), {"source": sources}), trained)


def test_srgan_clf_trains_with_the_domain_classifier_through_the_loop(project):
    training = _training(CONFIG, "srresnet-clf", "digits-sr2")
    assert isinstance(training.model.objective.content, FeatureContent)
    assert training.model.objective.content.features is not None
    history = training.run()
    assert all(math.isfinite(row["content"]) for row in history) and set(training.model.modules()) == {"generator"}


def test_params_refuse_the_classifier_content_outside_srgan_clf_and_srgan_clf_on_unlabelled_photos():
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError, match=r"digits-sr2 × srgan: families.srgan.content mse\+classifier: the domain "
                                          "classifier goes only to family srgan-clf"):
        tiny_config(benchmark={"datasets": ["digits-sr2"], "variants": ["srgan"]},
                    families={"srgan": {"content": "mse+classifier"}})
    with pytest.raises(ConfigError, match=r"families.srgan-clf.content = 'mse' is not allowed"):
        tiny_config(families={"srgan-clf": {"content": "mse"}})
    with pytest.raises(ConfigError, match="photos-sr4 × srresnet-clf: family srgan-clf trains with the feature "
                                          "network"):
        tiny_config(benchmark={"datasets": ["photos-sr4"], "variants": ["srresnet-clf"]})
