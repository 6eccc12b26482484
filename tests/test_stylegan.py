"""StyleGAN2 (models/style.py, models/r1.py, models/families/stylegan.py): modulated convolution with demodulation
against the per-sample convolution of Eq. 1-3 and its unit output variance, the truncation trick's end points,
style mixing's crossover, R1 against a linear D's closed form, the lazy schedule and its weight, the illustrations,
and the family through the real loop with an exact resume."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from models.families import get_family, get_variant
from models.family import DataSpec, Hyperparameters, NetworkOptions, Progress, RunContext
from models.illustration import Illustrated
from models.precision import FP32
from models.r1 import LazyR1, r1_penalty
from models.style import StyleConv, StyleGenerator, StyleSpec, ToRGB, mix_styles, modulated_conv2d
from pipeline.config import ConfigError
from tests.conftest import prepare_once, tiny_config, work_in_copy
from tests.test_step import _training
from tests.test_task_families import assert_same_state, stopped_and_resumed, timeless

SPEC = StyleSpec(data_shape=(3, 16, 16), z_dim=8, w_dim=8, width=8, mbstd_group=4)


def _generator(seed: int = 0, spec: StyleSpec = SPEC) -> StyleGenerator:
    torch.manual_seed(seed)
    return StyleGenerator(spec).eval()


def test_modulated_convolution_is_the_per_sample_convolution_of_eq_1_to_3():
    """Eq. 1: w'_ijk = s_i w_ijk; Eq. 3: w''_ijk = w'_ijk / sqrt(Σ_ik w'_ijk² + ε): built per sample by hand and
    convolved one sample at a time (the reference's fused path); each output map's weights have unit norm."""
    gen = torch.Generator().manual_seed(0)
    x, weight = torch.randn(3, 5, 7, 7, generator=gen), torch.randn(4, 5, 3, 3, generator=gen)
    styles = torch.randn(3, 5, generator=gen).exp()
    for n in range(3):
        modulated = weight * styles[n][None, :, None, None]
        demodulated = modulated / (modulated.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8).sqrt()
        torch.testing.assert_close(demodulated.square().sum(dim=(1, 2, 3)), torch.ones(4))
        torch.testing.assert_close(modulated_conv2d(x, weight, styles)[n], F.conv2d(x[n : n + 1], demodulated,
                                                                                     padding=1)[0])
        torch.testing.assert_close(modulated_conv2d(x, weight, styles, demodulate=False)[n],
                                   F.conv2d(x[n : n + 1], modulated, padding=1)[0])


def test_demodulation_keeps_unit_output_variance_for_unit_variance_input():
    """Each interior output is Σ w''·x over 9·I independent N(0, 1) inputs with Σ w''² = 1, so exactly N(0, 1)
    (Karras et al. 2020, Eq. 2-3). The mean of y² over 8·16·22·22 = 61,952 interior outputs estimates 1 with
    standard error ≤ sqrt(2 · 9 / 61,952) ≈ 0.017 (var y² = 2; neighbours share inputs, so at most a 3×3
    window's 9 outputs are counted as one): a tolerance of 0.06 is 3.5 standard errors. Without demodulation the
    style's scale (here e^N(0,1) per input map, mean square e²) passes straight through."""
    gen = torch.Generator().manual_seed(1)
    x, weight = torch.randn(8, 32, 24, 24, generator=gen), torch.randn(16, 32, 3, 3, generator=gen)
    styles = torch.randn(8, 32, generator=gen).exp()
    interior = modulated_conv2d(x, weight, styles)[:, :, 1:-1, 1:-1]
    assert interior.square().mean().item() == pytest.approx(1.0, abs=0.06)
    assert interior.mean().item() == pytest.approx(0.0, abs=0.03)
    per_map = interior.square().mean(dim=(2, 3))  # 484 outputs each: a looser, per-(sample, map) check
    assert per_map.min().item() > 0.5 and per_map.max().item() < 1.6  # ±2.6 standard errors of ≈ 0.19
    raw = modulated_conv2d(x, weight, styles, demodulate=False)[:, :, 1:-1, 1:-1]
    assert raw.square().mean().item() > 100.0


def test_truncation_at_psi_0_is_w_avg_exactly_and_at_psi_1_w_itself():
    generator = _generator()
    generator.mapping.w_avg.copy_(torch.randn(8, generator=torch.Generator().manual_seed(2)))
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    untruncated = generator.styles(z)
    assert torch.equal(generator.styles(z, psi=0.0), generator.mapping.w_avg.expand(5, generator.num_ws, 8))
    assert torch.equal(generator.styles(z, psi=1.0), untruncated)
    w = generator.mapping(z)
    assert torch.equal(generator.mapping.truncate(w, 1.0), w)
    torch.testing.assert_close(generator.styles(z, psi=0.5)[:, 0], (w + generator.mapping.w_avg) / 2)


def test_w_avg_is_a_running_mean_of_training_batches_without_the_mixing_latent():
    generator = _generator().train()
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        w = generator.mapping.layers(z * z.square().mean(dim=1, keepdim=True).add(1e-8).rsqrt())
        generator(z, rng=torch.Generator().manual_seed(5), mixing=1.0)
    torch.testing.assert_close(generator.mapping.w_avg, (1 - 0.995) * w.mean(dim=0))
    before = generator.mapping.w_avg.clone()
    generator.eval()(z)
    assert torch.equal(generator.mapping.w_avg, before), "sampling (eval mode) leaves w_avg alone"


def _layer_outputs(generator: StyleGenerator, ws: torch.Tensor) -> dict[int, list[torch.Tensor]]:
    """Every synthesis layer's output by the index of the style it takes (each ToRGB shares the next conv's)."""
    outputs: dict[int, list[torch.Tensor]] = {}
    handles = []
    synthesis = generator.synthesis
    for start, block in zip(synthesis.starts, synthesis.blocks):
        for index, layer in [*enumerate(block.convs), (len(block.convs), block.to_rgb)]:
            hook = (lambda i: lambda module, args, output: outputs.setdefault(i, []).append(output))(start + index)
            handles.append(layer.register_forward_hook(hook))
    synthesis(ws)
    for handle in handles:
        handle.remove()
    return outputs


@pytest.mark.parametrize("crossover", [1, 3, 5])
def test_style_mixing_changes_only_the_layers_from_the_crossover_on(crossover):
    generator = _generator()
    ws = generator.styles(torch.randn(4, 8, generator=torch.Generator().manual_seed(6)))
    other = generator.styles(torch.randn(4, 8, generator=torch.Generator().manual_seed(7)))
    plain, mixed = _layer_outputs(generator, ws), _layer_outputs(generator, mix_styles(ws, other, crossover))
    assert sorted(plain) == list(range(generator.num_ws)) == list(range(6))
    for index in plain:
        same = all(torch.equal(a, b) for a, b in zip(plain[index], mixed[index]))
        assert same == (index < crossover), index
    assert isinstance(generator.synthesis.blocks[0].convs[0], StyleConv)
    assert isinstance(generator.synthesis.blocks[0].to_rgb, ToRGB)


def test_training_mixing_draws_crossover_second_latent_and_coin_in_the_references_order():
    generator = _generator()
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(8))
    observed = generator(z, rng=torch.Generator().manual_seed(9), mixing=1.0)
    rng = torch.Generator().manual_seed(9)
    crossover = int(torch.randint(1, generator.num_ws, (), generator=rng))
    other = torch.randn(z.shape, generator=rng)
    torch.rand((), generator=rng)
    expected = generator.synthesis(mix_styles(generator.styles(z), generator.styles(other), crossover), rng)
    assert torch.equal(observed, expected)
    assert not torch.equal(observed, generator(z, rng=torch.Generator().manual_seed(9)))


def test_r1_of_a_linear_discriminator_is_the_squared_norm_of_its_weights():
    """D(x) = a·x: ∇ₓD = a for every sample, so E‖∇D‖² = ‖a‖², and its gradient with respect to a is 2a."""
    a = torch.randn(3 * 4 * 4, generator=torch.Generator().manual_seed(10)).requires_grad_(True)
    real = torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(11))
    penalty = r1_penalty(lambda x: x.flatten(start_dim=1) @ a, real)
    torch.testing.assert_close(penalty, a.detach().square().sum())
    penalty.backward()
    torch.testing.assert_close(a.grad, 2 * a.detach())
    scaled = r1_penalty(lambda x: x.flatten(start_dim=1) @ a, real, loss_scale=1024.0)
    torch.testing.assert_close(scaled, penalty.detach())


def test_the_lazy_r1_update_weighs_the_penalty_by_gamma_n_over_2():
    """With SGD(lr 1) on D(x) = a·x the R1 update is a ← a − (γN/2)·2a: γ = 0.1, N = 16 give a ← −0.6 a."""
    torch.manual_seed(12)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1, bias=False))
    a = critic[1].weight.detach().clone()
    lazy = LazyR1(gamma=0.1, interval=16)
    penalty, skipped = lazy.step(critic, torch.optim.SGD(critic.parameters(), lr=1.0), torch.randn(4, 3, 2, 2), FP32)
    torch.testing.assert_close(penalty, a.square().sum())
    torch.testing.assert_close(critic[1].weight.detach(), -0.6 * a)
    assert skipped == 0.0 and lazy.weight == pytest.approx(0.8)


def test_the_lazy_schedule_and_adams_correction():
    lazy = LazyR1(gamma=0.01, interval=16)
    assert [step for step in range(50) if lazy.due(Progress(step, 50))] == [0, 16, 32, 48]
    assert lazy.ratio == 16 / 17 and lazy.learning_rate(0.0025) == pytest.approx(0.0025 * 16 / 17)
    assert lazy.betas((0.0, 0.99)) == (0.0, pytest.approx(0.99 ** (16 / 17)))
    with pytest.raises(ValueError, match="gamma > 0"):
        LazyR1(gamma=0.0, interval=16)


def _run(options: dict | None = None, shape: tuple[int, ...] = (3, 8, 8)):
    from models.families.stylegan import StyleGANOptions

    family, data = get_family("stylegan"), DataSpec("images", shape)
    hyper = Hyperparameters(network=NetworkOptions(z_dim=8, width=8), options=StyleGANOptions(**(options or {})))
    settings = family.resolve(get_variant("stylegan"), hyper, data, 1)
    return family, settings, family.create(settings, data, RunContext())


def test_the_run_takes_r1_on_steps_0_n_2n_with_ds_adam_corrected():
    _, settings, run = _run({"r1_interval": 3, "r1_gamma": 1.0, "style_mixing": 0.5, "mbstd_group": 4})
    data = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(13)) * 2 - 1
    rng = torch.Generator().manual_seed(14)
    steps = [run.step(lambda: {"x": data}, rng, Progress(step, 7)) for step in range(7)]
    assert [step for step, stats in enumerate(steps) if "r1" in stats] == [0, 3, 6]
    assert all(math.isfinite(stats["loss_d"]) and math.isfinite(stats["loss_g"]) for stats in steps)
    (d_group,), (g_group,) = run.opt_d.param_groups, run.opt_g.param_groups
    assert d_group["lr"] == pytest.approx(0.0025 * 3 / 4) and d_group["betas"][1] == pytest.approx(0.99 ** 0.75)
    assert g_group["lr"] == 0.0025 and g_group["betas"] == (0.0, 0.99)
    run.scale_learning_rates(0.5)
    assert run.opt_d.param_groups[0]["lr"] == pytest.approx(0.0025 * 0.5 * 3 / 4)
    assert run.ema is not None and run.ema.rampup == 0.05 and settings.ema_decay == 0.5 ** (64 / 500_000)
    assert torch.equal(run.sampler().mapping.w_avg, run.generator.mapping.w_avg), "the EMA copies G's w_avg"


def test_without_r1_there_is_no_r1_update_and_no_correction():
    _, _, run = _run({"r1_gamma": 0.0, "mbstd_group": 4})
    data = torch.rand(4, 3, 8, 8) * 2 - 1
    assert "r1" not in run.step(lambda: {"x": data}, torch.Generator().manual_seed(0), Progress(0, 1))
    assert run.opt_d.param_groups[0]["lr"] == 0.0025 and run.opt_d.param_groups[0]["betas"] == (0.0, 0.99)


def test_sampling_truncates_by_psi_clips_to_the_data_range_and_round_trips_settings():
    from models.families.stylegan import StyleGANSampling

    family, settings, run = _run()
    sampler = run.sampler()
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(15))
    torch.testing.assert_close(family.generate(sampler, z, {}, StyleGANSampling(psi=0.5)),
                               sampler(z, psi=0.5).clamp(-1, 1))
    at_zero = family.generate(sampler, z, {}, StyleGANSampling(psi=0.0))
    assert torch.equal(at_zero, at_zero[:1].expand_as(at_zero)), "ψ = 0: every latent is w_avg's image"
    assert torch.equal(family.generate(sampler, z, {}), family.generate(sampler, z, {}, StyleGANSampling()))
    assert family.settings_from_dict(dataclasses.asdict(settings)) == settings


def test_the_illustrations_are_a_style_mixing_grid_and_a_truncation_strip():
    family, settings, run = _run(shape=(1, 16, 16))
    assert isinstance(family, Illustrated)
    sampler = run.sampler()
    with torch.no_grad():
        grid, strip = family.illustrations(sampler, 8, DataSpec("images", (1, 16, 16)),
                                           torch.Generator().manual_seed(0))
    assert grid.images.shape == (6, 7, 1, 16, 16) and strip.images.shape == (6, 5, 1, 16, 16)
    assert "layers 0-2" in grid.title, "16×16: the 4² and 8² layers are coarse"
    assert torch.equal(grid.images[0, 0], torch.ones(1, 16, 16))
    assert -1.0 <= float(grid.images.min()) and float(grid.images.max()) <= 1.0, "G's range, clipped"
    assert torch.equal(strip.images[:, 0], strip.images[:1, 0].expand(6, -1, -1, -1)), "ψ = 0: one image, w_avg's"
    rng = torch.Generator().manual_seed(0)
    rows, columns = torch.randn(5, 8, generator=rng), torch.randn(6, 8, generator=rng)
    sources = sampler(rows).clamp(-1, 1), sampler(columns).clamp(-1, 1)
    torch.testing.assert_close(grid.images[1:, 0], sources[0])
    torch.testing.assert_close(grid.images[0, 1:], sources[1])
    cell = sampler.synthesis(mix_styles(sampler.styles(rows[1:2]), sampler.styles(columns[2:3]), 3))
    torch.testing.assert_close(grid.images[2, 3], cell[0].clamp(-1, 1))


@pytest.mark.parametrize("shape, message", [((2,), "family stylegan generates images"),
                                            ((3, 64, 64), "square images of side 8, 16, 32"),
                                            ((2, 8, 8), "1 or 3 channels")])
def test_the_family_refuses_data_it_cannot_generate(shape, message):
    from models.family import FamilyError

    family = get_family("stylegan")
    data = DataSpec("points" if len(shape) == 1 else "images", shape)
    with pytest.raises(FamilyError, match=re.escape(message)):
        family.check_data(data)
        family.resolve(get_variant("stylegan"), Hyperparameters(), data, 1)


CONFIG = tiny_config(families={"stylegan": {"r1_interval": 2, "style_mixing": 0.5, "mbstd_group": 4}},
                     classifier={"epochs": 1, "width": 4, "feature_dim": 4})


@pytest.fixture(scope="module")
def prepared_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_once(tmp_path_factory.mktemp("digits"), CONFIG, ["digits"])


@pytest.fixture
def project(prepared_digits: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared_digits, tmp_path, monkeypatch)


def test_the_family_trains_through_the_loop_and_resumes_exactly(project, tmp_path):
    straight = _training(CONFIG, "stylegan", "digits")
    history = straight.run()
    assert all(math.isfinite(row["fid_clf100"]) for row in history if row["step"] in (3, 6))
    assert any("r1" in row for row in history)
    resumed = stopped_and_resumed(CONFIG, "stylegan", "digits", tmp_path / "ckpt")
    expected = assert_same_state(straight, resumed)
    assert any(key.endswith("w_avg") for key in expected) and any(key.endswith("noise_const") for key in expected)
    assert any(key.startswith(".ema.") for key in expected) and any(key.startswith(".opt_d.") for key in expected)
    assert timeless(straight.history) == timeless(resumed.history)


def test_params_refuse_stylegan_on_points_and_with_another_regulariser():
    with pytest.raises(ConfigError, match=re.escape("ring8 × stylegan: family stylegan generates images")):
        tiny_config(benchmark={"datasets": ["ring8"], "variants": ["stylegan"]})
    with pytest.raises(ConfigError, match="loss.regulariser: gradient-penalty cannot be added"):
        tiny_config(benchmark={"datasets": ["digits"], "variants": ["stylegan"]},
                    loss={"regulariser": "gradient-penalty"})
