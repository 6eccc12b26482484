"""The ``stackgan`` family (Zhang et al. 2017, labels for text): conditioning augmentation against its closed form
and by hand, the matching-aware D loss against torch's BCE, each stage's shapes, the stage switch by progress (each
stage's weights untouched while the other trains), sampling as a function of (noise, label) from both samplers and
their exported weights, the two-stage illustration, and the family through the real loop: both stages, an exact
resume in stage II, the stage and the KL logged."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from models.families import get_family, get_variant
from models.family import DataSpec, FamilyError, Hyperparameters, NetworkOptions, Progress, RunContext
from models.families.stackgan import (StackGANOptions, halvings_done, matching_aware_d_loss, stage_boundary,
                                      wrong_labels)
from models.illustration import Illustrated
from models.stackgan_networks import (ConditioningAugmentation, Judgement, StackGANDiscriminator, StageOneGenerator,
                                      StageTwoGenerator, kl_to_standard_normal)
from tests.conftest import prepare_once, tiny_config, work_in_copy
from tests.test_step import _training
from tests.test_task_families import assert_same_state, stopped_and_resumed, timeless

FAMILY = get_family("stackgan")
TINY = StackGANOptions(condition_dim=4, compressed_dim=4, embedding_dim=6, stage1_share=0.5)
#: stage I for steps 0-1, stage II for 2-5: the step-3 checkpoint resumes in the middle of stage II.
CONFIG = tiny_config(model={"width": 8, "z_dim": 8}, classifier={"epochs": 1, "width": 4, "feature_dim": 4},
                     families={"stackgan": {"condition_dim": 4, "compressed_dim": 4, "embedding_dim": 6,
                                            "stage1_share": 0.3}})


def tiny_run(shape=(3, 8, 8), classes=10, options=TINY):
    data = DataSpec("images", shape, classes)
    settings = FAMILY.resolve(get_variant("stackgan"), Hyperparameters(NetworkOptions(z_dim=5, width=8),
                                                                       options=options), data, 1)
    return FAMILY.create(settings, data, RunContext(seed=3)), settings, data


def batches(shape, classes, seed=0):
    rng = torch.Generator().manual_seed(seed)
    return lambda: {"x": torch.rand(16, *shape, generator=rng) * 2 - 1, "y": torch.randint(classes, (16,), generator=rng)}


def test_kl_matches_the_closed_form_and_torch_distributions():
    mu = torch.tensor([[1.0, 0.0], [0.5, -2.0]])
    log_variance = torch.tensor([[0.0, math.log(4.0)], [-1.0, 0.3]])
    by_hand = (0.5 * (1 + 1 - 1 - 0) + 0.5 * (0 + 4 - 1 - math.log(4.0)),
               sum(0.5 * (m * m + math.exp(v) - 1 - v) for m, v in ((0.5, -1.0), (-2.0, 0.3))))
    assert kl_to_standard_normal(mu[:1], log_variance[:1]).item() == pytest.approx(by_hand[0], rel=1e-6)
    assert kl_to_standard_normal(mu, log_variance).item() == pytest.approx(sum(by_hand) / 2, rel=1e-6)
    reference = torch.distributions.kl_divergence(torch.distributions.Normal(mu, torch.exp(0.5 * log_variance)),
                                                  torch.distributions.Normal(0.0, 1.0)).sum(dim=1).mean()
    assert kl_to_standard_normal(mu, log_variance).item() == pytest.approx(reference.item(), rel=1e-6)
    assert kl_to_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0.0


def test_conditioning_augmentation_samples_mu_plus_sigma_eps_by_hand():
    torch.manual_seed(0)
    augmentation = ConditioningAugmentation(n_classes=7, embedding_dim=5, condition_dim=3)
    labels, eps = torch.tensor([0, 6, 2]), torch.randn(3, 3)
    condition, mu, log_variance = augmentation(labels, eps)
    with torch.no_grad():
        phi = augmentation.embedding.weight[labels]
        out = phi @ augmentation.fc.weight.T + augmentation.fc.bias
        expected_mu, expected_log_variance = out[:, :3], out[:, 3:]
        torch.testing.assert_close(mu, expected_mu)
        torch.testing.assert_close(log_variance, expected_log_variance)
        torch.testing.assert_close(condition, expected_mu + torch.exp(expected_log_variance / 2) * eps)
        torch.testing.assert_close(augmentation(labels, torch.zeros(3, 3))[0], expected_mu)


def test_matching_aware_d_loss_is_the_authors_bce_sum():
    real, fake, wrong, real_u, fake_u = (torch.tensor(v) for v in ([0.3, -1.0], [2.0, 0.1], [-0.4, 1.5],
                                                                    [0.7, 0.2], [-1.2, 0.9]))
    ones, zeros = torch.ones(2), torch.zeros(2)
    bce = F.binary_cross_entropy_with_logits
    stage1 = bce(real, ones) + 0.5 * (bce(fake, zeros) + bce(wrong, zeros))
    assert matching_aware_d_loss(Judgement(real, wrong, None), Judgement(fake, None, None)).item() == \
        pytest.approx(stage1.item(), rel=1e-6)
    stage2 = (bce(real, ones) + bce(real_u, ones)) / 2 + (bce(fake, zeros) + bce(wrong, zeros) + bce(fake_u, zeros)) / 3
    assert matching_aware_d_loss(Judgement(real, wrong, real_u), Judgement(fake, None, fake_u)).item() == \
        pytest.approx(stage2.item(), rel=1e-6)


def test_wrong_labels_are_another_class_drawn_over_all_others():
    labels = torch.arange(5).repeat(400)
    wrong = wrong_labels(labels, 5, torch.Generator().manual_seed(0))
    assert not (wrong == labels).any()
    assert {(int(a), int(b)) for a, b in zip(labels, wrong)} == {(a, b) for a in range(5) for b in range(5) if a != b}


@pytest.mark.parametrize("channels, side", [(1, 8), (3, 16), (3, 32)])
def test_each_stage_has_its_shape(channels, side):
    stage1 = StageOneGenerator(channels, side // 2, width=4, z_dim=5, n_classes=3, embedding_dim=6, condition_dim=4)
    stage2 = StageTwoGenerator(channels, width=4, n_classes=3, embedding_dim=6, condition_dim=4, residual_blocks=2)
    labels = torch.tensor([0, 2])
    first, mu, log_variance = stage1(torch.randn(2, 9), labels)
    assert first.shape == (2, channels, side // 2, side // 2) and mu.shape == log_variance.shape == (2, 4)
    second = stage2(first, torch.randn(2, 4), labels)[0]
    assert second.shape == (2, channels, side, side) and second.abs().max() <= 1.0
    for d_side, unconditional in ((side // 2, False), (side, True)):
        judged = StackGANDiscriminator(channels, d_side, 4, 3, 4, unconditional)(
            torch.randn(2, channels, d_side, d_side), labels, torch.tensor([1, 0]))
        assert judged.matched.shape == judged.mismatched.shape == (2,)
        assert (judged.unconditional is not None) == unconditional


@pytest.mark.parametrize("shape", [(3, 64, 64), (2, 8, 8), (3, 8, 16), (1, 4, 4)])
def test_other_shapes_are_refused_naming_the_shape(shape):
    with pytest.raises(FamilyError, match=re.escape(f"got shape {shape}")):
        FAMILY.check_data(DataSpec("images", shape, 10))


def _stage_weights(run) -> dict[str, dict[str, torch.Tensor]]:
    """Each stage's G and D state (weights and BatchNorm statistics), cloned."""
    generator = run.modules()["generator"]
    nets = {1: (generator.stage1, run.modules()["d1"]), 2: (generator.stage2, run.modules()["d2"])}
    return {stage: {f"{i}.{k}": v.clone() for i, net in enumerate(pair) for k, v in net.state_dict().items()}
            for stage, pair in nets.items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[key], b[key]) for key in a)


def test_progress_switches_the_stage_and_each_stage_leaves_the_other_untouched():
    run, _, data = tiny_run()
    next_batch, rng = batches(data.shape, 10), torch.Generator().manual_seed(0)
    before = _stage_weights(run)
    stages = [run.step(next_batch, rng, Progress(step, 4))["stage"] for step in (0, 1)]
    middle = _stage_weights(run)
    assert not _same(before[1], middle[1]) and _same(before[2], middle[2]), "stage I trains, stage II rests"
    stages += [run.step(next_batch, rng, Progress(step, 4))["stage"] for step in (2, 3)]
    after = _stage_weights(run)
    assert _same(middle[1], after[1]) and not _same(middle[2], after[2]), "stage II trains, stage I rests (BN too)"
    assert stages == [1.0, 1.0, 2.0, 2.0]
    assert stage_boundary(0.5, 4) == 2 and stage_boundary(0.3, 6) == 2 and stage_boundary(0.5, 5) == 3


def test_learning_rates_halve_evenly_over_each_stage():
    assert [halvings_done(step, 0, 12, 5) for step in range(12)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [halvings_done(step, 10, 3, 5) for step in range(10, 13)] == [0, 2, 4]
    run, settings, data = tiny_run()
    next_batch, rng = batches(data.shape, 10), torch.Generator().manual_seed(0)
    run.step(next_batch, rng, Progress(150, 200))  # stage II: steps 100-199, halved at 100 + 100k/6
    assert run.opt_g[1].param_groups[0]["lr"] == settings.optimiser.lr_g * 0.5 ** 3
    assert run.opt_d[1].param_groups[0]["lr"] == settings.optimiser.lr_d * 0.5 ** 3
    run.scale_learning_rates(0.5)
    run.step(next_batch, rng, Progress(10, 200))
    assert run.opt_g[0].param_groups[0]["lr"] == settings.optimiser.lr_g * 0.5 * 0.5 ** 0


def test_samples_are_a_function_of_noise_and_label_and_exported_weights_give_the_same():
    run, settings, data = tiny_run(shape=(1, 16, 16))
    next_batch, rng = batches(data.shape, 10), torch.Generator().manual_seed(0)
    for step in range(4):
        run.step(next_batch, rng, Progress(step, 4))
    assert FAMILY.latent_dim(settings) == 5 + 2 * 4
    noise = FAMILY.sample_noise(6, FAMILY.latent_dim(settings), torch.Generator().manual_seed(1))
    conditions = {"y": torch.tensor([0, 1, 2, 3, 4, 9])}
    state = run.state_dict()
    with torch.no_grad():
        for name in FAMILY.sampler_names():
            trained = run.sampler(name).eval()
            first = FAMILY.generate(trained, noise, conditions)
            assert first.shape == (6, 1, 16, 16)
            assert torch.equal(first, FAMILY.generate(trained, noise, conditions))
            exported = FAMILY.build_sampler(settings, data, name)
            exported.load_state_dict(FAMILY.sampler_weights(state, name))
            assert torch.equal(FAMILY.generate(exported.eval(), noise, conditions), first), name
        stage1, stage2 = run.sampler().stages(noise, conditions)
        assert torch.equal(stage1, run.sampler("stage1")(noise, conditions))
        assert torch.equal(stage2, run.sampler()(noise, conditions))
        other_eps = noise.clone()
        other_eps[:, -4:] += 1.0  # stage II's ε changes stage II's image only
        moved1, moved2 = run.sampler().stages(other_eps, conditions)
        assert torch.equal(moved1, stage1) and not torch.equal(moved2, stage2)


def test_the_illustration_puts_both_stages_of_the_same_noise_and_label_side_by_side():
    run, settings, data = tiny_run(classes=1000)
    assert isinstance(FAMILY, Illustrated)
    sampler = run.sampler().eval()
    with torch.no_grad():
        (figure,) = FAMILY.illustrations(sampler, FAMILY.latent_dim(settings), data, torch.Generator().manual_seed(2))
        assert figure.images.shape == (5, 8, 3, 8, 8)
        assert figure.row_labels == ("class 0", "class 250", "class 500", "class 749", "class 999")
        assert figure.column_labels[:2] == ("stage I", "stage II")
        noise = FAMILY.sample_noise(20, FAMILY.latent_dim(settings), torch.Generator().manual_seed(2))
        first, second = sampler.stages(noise[4:8], {"y": torch.full((4,), 250)})
    torch.testing.assert_close(figure.images[1, 0::2], first)
    torch.testing.assert_close(figure.images[1, 1::2], second)


@pytest.fixture(scope="module")
def prepared_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_once(tmp_path_factory.mktemp("digits"), CONFIG, ["digits"])


@pytest.fixture
def project(prepared_digits: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return work_in_copy(prepared_digits, tmp_path, monkeypatch)


def test_the_family_trains_both_stages_through_the_loop_and_resumes_exactly(project, tmp_path):
    straight = _training(CONFIG, "stackgan", "digits")
    history = straight.run()
    assert [row["stage"] for row in history] == [1.0, 2.0, 2.0, 2.0]  # log rows at steps 2 (1, 1 mean), 3, 4, 6
    assert all(math.isfinite(row["intra_fid_clf100"]) for row in history if row["step"] in (3, 6))
    assert all(row["kl"] > 0 for row in history)
    assert straight.metric_names(history[-1])["stackgan/stage"] == 2.0 and "loss/kl" in straight.metric_names(history[-1])
    resumed = stopped_and_resumed(CONFIG, "stackgan", "digits", tmp_path / "ckpt")
    assert_same_state(straight, resumed)
    assert timeless(straight.history) == timeless(resumed.history)
