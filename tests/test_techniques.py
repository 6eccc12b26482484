"""The stabilisation techniques of the ``gan`` family (models/techniques.py, penalties.py, minibatch_discrimination.py,
stabilised_discriminator.py, stabilised_run.py): each against a hand computation on fixed tensors, the refusals in
one line, and every technique variant through the real loop, resuming exactly."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from models.families.gan import GANFamily, TECHNIQUE_VARIANTS, TechniqueVariant
from models.families import get_variant
from models.family import DataSpec, FamilyError, Hyperparameters, NetworkOptions
from models.losses import NonSaturatingLoss, WassersteinLoss
from models.minibatch_discrimination import MinibatchDiscrimination
from models.minibatch_stddev import minibatch_stddev
from models.networks import NetworkSpec, build_discriminator
from models.precision import FP32
from models.penalties import DRAGANPenalty, R1Penalty, R2Penalty, build_penalty, dragan_points
from models.progress import Progress
from models.stabilised_discriminator import StabilisedDiscriminator, pack
from models.stabilised_run import feature_matching_step, with_noise
from models.techniques import GANOptions, OneSidedSmoothing, Techniques, resolve_techniques, technique_conflict
from pipeline.config import ConfigError
from tests.conftest import prepare_once, tiny_config, work_in_copy
from tests.test_step import _training
from tests.test_task_families import assert_same_state, stopped_and_resumed, timeless

POINTS = DataSpec(kind="points", shape=(2,))
IMAGES = DataSpec(kind="images", shape=(1, 8, 8), n_classes=10)


def _settings(variant: str, data: DataSpec = POINTS, **options):
    hyper = Hyperparameters(options=GANOptions(**options) if options else None)
    return GANFamily().resolve(get_variant(variant), hyper, data, 1)


def test_one_sided_label_smoothing_is_the_cross_entropy_with_real_target_alpha():
    real, fake = torch.tensor([0.0, 2.0]), torch.tensor([1.0])
    smoothed = OneSidedSmoothing(NonSaturatingLoss(), 0.9)
    # by hand: 0.9·mean(log 2, log(1 + e^-2)) + 0.1·mean(log 2, log(1 + e^2)) + log(1 + e)
    expected = (0.9 * (math.log(2) + math.log(1 + math.exp(-2))) / 2 + 0.1 * (math.log(2) + math.log(1 + math.exp(2))) / 2
                + math.log(1 + math.e))
    assert float(smoothed.d_loss(real, fake)) == pytest.approx(expected, rel=1e-6)
    assert float(smoothed.d_loss(real, fake)) == pytest.approx(1.823299, abs=1e-6)
    assert float(OneSidedSmoothing(NonSaturatingLoss(), 1.0).d_loss(real, fake)) == pytest.approx(
        float(NonSaturatingLoss().d_loss(real, fake)))
    assert float(smoothed.d_loss(real, fake)) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(real, torch.full_like(real, 0.9)) + F.softplus(fake).mean()))
    assert torch.equal(smoothed.g_loss(fake), NonSaturatingLoss().g_loss(fake))


def test_instance_noise_falls_linearly_to_exactly_zero_and_then_draws_nothing():
    noise = Techniques(noise_sigma=0.2, noise_anneal=0.5)
    assert [noise.noise_at(Progress(step, 100)) for step in (0, 25, 50, 99)] == [0.2, pytest.approx(0.1), 0.0, 0.0]
    rng = torch.Generator().manual_seed(3)
    x = torch.ones(4, 2)
    assert with_noise(x, 0.0, rng) is x and torch.equal(rng.get_state(), torch.Generator().manual_seed(3).get_state())
    expected = x + 0.2 * torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(with_noise(x, 0.2, rng), expected)
    assert Techniques().noise_at(Progress(0, 10)) == 0.0


def test_minibatch_discrimination_sums_exp_minus_l1_over_the_other_samples():
    layer = MinibatchDiscrimination(1, kernels=1, kernel_dim=1)
    with torch.no_grad():
        layer.T.fill_(1.0)
        layer.bias.zero_()
    f = torch.tensor([[0.0], [1.0], [3.0]])
    by_hand = [math.exp(-1) + math.exp(-3), math.exp(-1) + math.exp(-2), math.exp(-3) + math.exp(-2)]
    assert layer(f).squeeze(1).tolist() == pytest.approx(by_hand, rel=1e-6)
    assert by_hand == pytest.approx([0.417667, 0.503215, 0.185122], abs=1e-6)
    assert MinibatchDiscrimination(4).bias.tolist() == [-1.0] * 100  # the reference's B = 100, bias −1
    wide = MinibatchDiscrimination(3, kernels=2, kernel_dim=2)
    x = torch.randn(5, 3)
    m = (x @ wide.T).view(5, 2, 2)
    loop = torch.stack([torch.stack([sum(torch.exp(-(m[i, b] - m[j, b]).abs().sum()) for j in range(5) if j != i)
                                     for b in range(2)]) for i in range(5)]) + wide.bias
    assert torch.allclose(wide(x), loop, atol=1e-6)


def test_packing_puts_consecutive_samples_side_by_side():
    points = torch.arange(12.0).view(6, 2)
    assert pack(points, 2).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    images = torch.arange(4 * 2 * 2 * 2.0).view(4, 2, 2, 2)
    packed = pack(images, 2)
    assert packed.shape == (2, 4, 2, 2) and torch.equal(packed[1, 2:], images[3]) and torch.equal(packed[0, :2], images[0])
    with pytest.raises(ValueError, match="multiple of 3"):
        pack(points[:4], 3)


def _plain_and_packed(spec: NetworkSpec, m: int) -> tuple[nn.Module, StabilisedDiscriminator]:
    torch.manual_seed(0)
    stabilised = StabilisedDiscriminator(spec, Techniques(pack=m))
    torch.manual_seed(0)
    plain = build_discriminator(NetworkSpec(spec.arch, (spec.data_shape[0] * m, *spec.data_shape[1:]), spec.z_dim,
                                            spec.width, spec.depth, spec.d_norm))
    return plain, stabilised


@pytest.mark.parametrize("spec", [NetworkSpec("mlp", (2,), 4, 8, 2, "none"), NetworkSpec("dcgan", (1, 8, 8), 4, 4, 2, "layer")])
def test_a_packed_d_is_the_plain_d_on_hand_concatenated_samples(spec):
    plain, packed = _plain_and_packed(spec, 3)
    x = torch.randn(6, *spec.data_shape)
    by_hand = torch.cat([torch.cat(list(x[i:i + 3]), dim=0)[None] for i in (0, 3)])
    assert torch.allclose(packed(x), plain(by_hand)) and packed(x).shape == (2,)


def test_the_minibatch_stddev_feature_is_the_groups_mean_deviation():
    spec = NetworkSpec("mlp", (2,), 4, 8, 2, "none")
    d = StabilisedDiscriminator(spec, Techniques(mbstd_group=4))
    assert d.head.in_features == 9
    hidden = torch.randn(8, 8)
    groups = hidden.view(4, 2, 8)  # sample n in group n mod 2 (the reference's reshape)
    by_hand = groups.var(dim=0, unbiased=False).add(1e-8).sqrt().mean(dim=1)
    assert torch.allclose(minibatch_stddev(hidden[:, :, None, None], 4)[:, -1, 0, 0], by_hand.repeat(4), atol=1e-6)
    with torch.no_grad():
        expected = d.head(torch.cat([d.body(torch.ones(8, 2)), torch.full((8, 1), 1e-4)], dim=1)).reshape(-1)
        assert torch.allclose(d(torch.ones(8, 2)), expected, atol=1e-6)  # identical samples: σ = sqrt(1e-8)


def test_dcgan_gets_minibatch_features_as_constant_maps_before_its_output_convolution():
    spec = NetworkSpec("dcgan", (1, 8, 8), 4, 4, 2, "batch")
    d = StabilisedDiscriminator(spec, Techniques(minibatch_kernels=3, minibatch_kernel_dim=2))
    assert d.head.in_channels == 4 + 3 and d.minibatch.T.shape == (4 * 4 * 4, 6)  # width 4 at 4×4 for 8×8 images
    assert d(torch.randn(4, 1, 8, 8)).shape == (4,)
    assert d.features(torch.randn(4, 1, 8, 8)).shape == (4, 4 * 4 * 4)


def test_the_feature_matching_loss_is_the_mean_squared_difference_of_mean_features():
    spec = NetworkSpec("mlp", (2,), 4, 3, 1, "none")
    d = StabilisedDiscriminator(spec, Techniques(feature_matching=True))
    generator = nn.Linear(4, 2)
    with torch.no_grad():
        d.body[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        d.body[1].bias.zero_()
    real, z = torch.tensor([[1.0, 2.0], [3.0, -4.0]]), torch.randn(2, 4)
    fake = generator(z).detach()

    def f(x):
        return F.leaky_relu(x @ torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), 0.2)

    by_hand = (f(real).mean(0) - f(fake).mean(0)).square().mean()
    stats = feature_matching_step(generator, d, torch.optim.SGD(generator.parameters(), lr=0.0), z, real, FP32)
    assert float(stats[0]) == pytest.approx(float(by_hand), rel=1e-6)
    assert all(p.grad is None for p in d.parameters()) and all(p.requires_grad for p in d.parameters())


def test_r1_and_r2_are_the_mean_squared_gradient_norm_on_real_and_on_generated_data():
    def critic(x):  # D(x) = ½‖x‖², ∇D = x
        return 0.5 * x.square().sum(dim=1)

    real, fake = torch.tensor([[1.0, 2.0], [0.0, 3.0]]), torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    assert float(R1Penalty().penalty(critic, real, fake, None, 1.0).detach()) == pytest.approx((5 + 9) / 2)
    assert float(R2Penalty().penalty(critic, real, fake, None, 1.0).detach()) == pytest.approx((2 + 4) / 2)
    assert build_penalty(Techniques(penalty="r1", r1_gamma=10.0), 10.0).weight == 5.0  # γ/2
    assert build_penalty(Techniques(penalty="r2", r1_gamma=10.0, pack=3), 10.0).weight == 15.0  # m γ/2


def test_r1_with_packs_of_m_is_the_pack_gradients_squared_norm():
    """The penalty averages over the m·N rows; weighted m γ/2 it is γ/2 E_pack‖∇_pack D‖², autograd on the pack."""
    d = StabilisedDiscriminator(NetworkSpec("mlp", (2,), 4, 8, 2, "none"), Techniques(pack=2))
    real = torch.randn(6, 2)
    penalty = 2 * R1Penalty().penalty(d, real, real, None, 1.0)
    packs = pack(real, 2).requires_grad_(True)
    (grads,) = torch.autograd.grad(d.head(d.body(packs)).sum(), packs)
    assert float(penalty.detach()) == pytest.approx(float(grads.square().sum(dim=1).mean()), rel=1e-5)


def test_dragan_is_the_gradient_penalty_between_real_and_perturbed_real_data():
    w = torch.tensor([0.6, 2.0])

    def linear(x):  # ∇D = w everywhere: the penalty is (‖w‖ − 1)² whatever the perturbation
        return x @ w

    real = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, -1.0]])
    value = DRAGANPenalty().penalty(linear, real, real, torch.Generator().manual_seed(0), 1.0)
    assert float(value) == pytest.approx((math.hypot(0.6, 2.0) - 1.0) ** 2, rel=1e-6)

    def quadratic(x):  # ∇D = x̂: the penalty depends on where x̂ lands
        return 0.5 * x.square().sum(dim=1)

    rng = torch.Generator().manual_seed(1)
    value = DRAGANPenalty(c=0.5).penalty(quadratic, real, real, rng, 1.0)
    draws = torch.Generator().manual_seed(1)
    u = torch.rand(real.shape, generator=draws)
    perturbed = real + 0.5 * real.std(correction=0) * u  # numpy's std (ddof 0) of the whole batch
    eps = torch.rand(3, 1, generator=draws)
    points = eps * real + (1 - eps) * perturbed
    assert float(value) == pytest.approx(float((points.norm(dim=1) - 1).square().mean()), rel=1e-6)
    assert torch.equal(dragan_points(real, 0.5, torch.Generator().manual_seed(1)), perturbed)


def test_params_set_a_technique_for_every_variant_and_null_keeps_the_variants():
    assert resolve_techniques(None, (("pack", 2),)) == Techniques(pack=2)
    assert resolve_techniques(GANOptions(pack=3, r1_gamma=1.0), (("pack", 2),)) == Techniques(pack=3, r1_gamma=1.0)
    assert _settings("non-saturating").techniques == Techniques()
    assert _settings("ns-dragan", IMAGES).network.d_norm == "layer"  # per-sample penalty: no BatchNorm
    assert _settings("ns-pacgan2", IMAGES).network.d_norm == "batch"


@pytest.mark.parametrize("variant, options, message", [
    ("wgan", {"real_label": 0.9}, "families.gan.real_label = 0.9: one-sided label smoothing sets the real target"),
    ("wgan-gp", {"penalty": "r1"}, "families.gan.penalty = r1 cannot go with the gradient-penalty regulariser"),
    ("wgan-gp", {"pack": 2}, "families.gan.pack = 2 cannot go with a gradient-norm penalty"),
    ("ns-dragan", {"pack": 2}, "families.gan.pack = 2 cannot go with a gradient-norm penalty"),
    ("ns-r1", {"minibatch_kernels": 10}, "minibatch_kernels > 0 cannot go with a per-sample gradient penalty"),
    ("ns-minibatch-stddev", {"minibatch_kernels": 10}, "minibatch_kernels and mbstd_group are both on"),
])
def test_conflicting_techniques_are_refused_in_one_line(variant, options, message):
    with pytest.raises(FamilyError, match=message.replace("(", r"\(")) as refused:
        _settings(variant, **options)
    assert "\n" not in str(refused.value)


def test_batchnorm_in_d_is_refused_with_a_per_sample_penalty():
    with pytest.raises(FamilyError, match="model.norm: batch cannot be used with the r1 regulariser"):
        GANFamily().resolve(get_variant("ns-r1"), Hyperparameters(network=NetworkOptions(norm="batch")), IMAGES, 1)


def test_the_refusals_match_the_technique_conflicts():
    assert technique_conflict(NonSaturatingLoss, "none", False, Techniques(pack=4, penalty="r2")) is None
    assert technique_conflict(WassersteinLoss, "none", False, Techniques(feature_matching=True)) is None


def test_the_conditional_families_take_no_technique(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("families:\n  cgan:\n    pack: 2\n")
    from pipeline.config import load

    with pytest.raises(ConfigError, match="families.cgan: family cgan takes no options of its own"):
        load(params)
    assert all(isinstance(get_variant(name), TechniqueVariant) for name, _, _ in TECHNIQUE_VARIANTS)


def test_old_generator_files_load_with_every_technique_off():
    import dataclasses

    plain = dataclasses.asdict(_settings("non-saturating"))
    del plain["techniques"]
    assert GANFamily().settings_from_dict(plain) == _settings("non-saturating")


CONFIG = tiny_config()
IMAGE_CONFIG = tiny_config(families={"gan": {"feature_matching": True, "pack": 2, "minibatch_kernels": 4,
                                             "noise_sigma": 0.1}},
                           benchmark={"variants": ["non-saturating"]}, study={"variants": ["non-saturating"]},
                           tune={"variants": ["non-saturating"]})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_once(tmp_path_factory.mktemp("techniques-data"), CONFIG, ["ring8", "digits"])


@pytest.fixture
def project(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared, tmp_path, monkeypatch)


@pytest.mark.parametrize("config, variant, dataset", [
    *[(CONFIG, name, "ring8") for name, _, _ in TECHNIQUE_VARIANTS],
    (IMAGE_CONFIG, "non-saturating", "digits"),
])
def test_each_technique_trains_through_the_loop_and_resumes_exactly(project, tmp_path, config, variant, dataset):
    straight = _training(config, variant, dataset)
    history = straight.run()
    assert history and all(math.isfinite(row["loss_d"]) for row in history if "loss_d" in row)
    resumed = stopped_and_resumed(config, variant, dataset, tmp_path / "stopped")
    assert_same_state(straight, resumed)
    assert timeless(resumed.history) == timeless(history)
    if straight.job.settings.techniques.noise_sigma:
        sigmas = [row["noise_sigma"] for row in history if "noise_sigma" in row]
        assert sigmas[-1] < sigmas[0]


def _sweep(**tune) -> None:
    from pipeline.tuning.sweep import _check_sweep

    _check_sweep(tiny_config(tune={"dataset": "ring8", **tune}), "tune")


def test_tune_searches_the_techniques_and_refuses_combinations_before_any_trial():
    _sweep(variants=["non-saturating"], space={"families.gan.pack": ["choice", [1, 2, 3]],
                                                "families.gan.penalty": ["choice", ["none", "r1"]],
                                                "families.gan.r1_gamma": ["loguniform", 0.1, 100.0]})
    with pytest.raises(ConfigError, match=r"tune.space: wgan-gp at families.gan.pack = 2: families.gan.pack = 2 cannot "
                                          r"go with a gradient-norm penalty"):
        _sweep(variants=["wgan-gp", "non-saturating"], space={"families.gan.pack": ["choice", [1, 2]]})


def test_pbt_refuses_a_technique_that_changes_the_networks_shapes():
    pbt = {"scheduler": "pbt", "variants": ["non-saturating"], "perturbation_interval": 3, "eval_every": 3,
           "steps": 6, "grace_period": 3}
    _sweep(**pbt, space={"families.gan.real_label": ["uniform", 0.8, 1.0], "lr_g": ["loguniform", 1e-4, 1e-3]})
    with pytest.raises(ConfigError, match=r"tune.scheduler: pbt copies weights between trials, but non-saturating at "
                                          r"families.gan.minibatch_kernels = 8 builds networks of other shapes"):
        _sweep(**pbt, space={"families.gan.minibatch_kernels": ["choice", [0, 8]], "lr_g": ["loguniform", 1e-4, 1e-3]})
