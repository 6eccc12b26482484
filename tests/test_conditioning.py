"""The pieces of the conditional and modern families against independent computations: spectral normalisation
against ``torch.linalg.matrix_norm(ord=2)``, the projection discriminator against its two terms by hand, AC-GAN's
losses against hand-computed cross-entropies (the softmax applied once), conditional BatchNorm, BigGAN's
orthogonal regularisation against its closed form and gradient, the hierarchical latent and the truncation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from models.conditioning import ConditionalBatchNorm2d, LabelsConcatenatedToNoise
from models.families import get_family, get_variant
from models.families.acgan import AuxiliaryClassifier
from models.losses import NonSaturatingLoss
from models.orthogonal import OrthogonalPenalty, off_diagonal_gram
from models.resnet import ResNetDiscriminator, ResNetGenerator, ResNetSpec
from models.spectral import normalised_weights
from models.step import Objective, class_loss, discriminator_step, generator_step


def _spec(**changes) -> ResNetSpec:
    values = dict(data_shape=(1, 8, 8), z_dim=12, g_width=8, d_width=8, n_classes=3)
    return ResNetSpec(**{**values, **changes})


def test_spectral_norm_brings_every_d_weight_to_largest_singular_value_one():
    torch.manual_seed(0)
    discriminator = ResNetDiscriminator(_spec(projection=True))
    x, conditions = torch.randn(4, 1, 8, 8), {"y": torch.tensor([0, 1, 2, 0])}
    for _ in range(400):  # one power iteration per forward pass in training mode
        discriminator(x, conditions)
    layers = normalised_weights(discriminator)
    assert len(layers) == 7  # 2 blocks × 2 convs, the first one's shortcut (the second keeps the shape), ψ, embedding
    discriminator.eval()
    for layer in layers:
        weight = layer.weight
        rows = weight.reshape(weight.shape[0], -1)
        assert torch.linalg.matrix_norm(rows, ord=2).item() == pytest.approx(1.0, abs=2e-3)
        assert "parametrizations.weight.0._u" in layer.state_dict(), "u is kept with the weights (checkpoints)"


def test_biggans_generator_normalises_every_layer_but_the_shared_class_embedding():
    generator = ResNetGenerator(_spec(g_norm="shared", g_spectral=True, init="orthogonal"))
    normalised = normalised_weights(generator)
    assert generator.shared not in normalised and generator.input in normalised
    assert len(normalised) == 1 + 2 * 2 + 3 + 1  # input, 2 gain/bias pairs, 3 block convs, the output conv


def test_the_gan_family_takes_spectral_norm_as_its_ds_normalisation():
    from models.networks import NetworkSpec, build_discriminator

    discriminator = build_discriminator(NetworkSpec("dcgan", (1, 8, 8), 4, 8, 3, "spectral"))
    assert len(normalised_weights(discriminator)) == 2 and not any(
        isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in discriminator.modules())


def test_the_projection_discriminator_is_its_two_terms():
    """D(x, y) = ψ(φ(x)) + embed(y) · φ(x) (Miyato & Koyama 2018, Eq. 3), recomputed from the weights."""
    torch.manual_seed(1)
    discriminator = ResNetDiscriminator(_spec(projection=True)).eval()
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 1, 2, 2, 1])
    phi = discriminator.features(x)
    psi = phi @ discriminator.head.linear.weight.T[:, 0] + discriminator.head.linear.bias
    inner = (discriminator.head.embed.weight[y] * phi).sum(dim=1)
    torch.testing.assert_close(discriminator(x, {"y": y}), psi + inner)
    torch.testing.assert_close(discriminator(x), psi)


def test_acgan_class_loss_is_the_cross_entropy_of_raw_logits_by_hand():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 2])
    by_hand = -np.mean([2.0 - math.log(math.exp(2.0) + math.exp(0.5) + math.exp(-1.0)),
                        3.0 - math.log(math.exp(0.0) + math.exp(1.0) + math.exp(3.0))])
    assert class_loss(logits, {"y": labels}).item() == pytest.approx(by_hand, rel=1e-6)
    softmax_twice = class_loss(torch.softmax(logits, dim=1), {"y": labels}).item()
    assert abs(softmax_twice - by_hand) > 0.1, "a softmax before the cross-entropy would be a different loss"


class FixedOutputs(nn.Module):
    """A 'network' whose outputs are fixed logits plus a zero-weighted input term (so gradients flow)."""

    def __init__(self, outputs: torch.Tensor) -> None:
        super().__init__()
        self.outputs, self.scale = outputs, nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outputs + self.scale * x.flatten(1).sum(dim=1, keepdim=True)


def test_acgan_losses_of_d_and_g_are_the_adversarial_and_class_terms_by_hand():
    """D: L_adv(r, f) + CE(real logits, y_real) + CE(fake logits, y_fake); G: L_adv's G term + CE(fake, y_fake)."""
    outputs = torch.tensor([[0.3, 2.0, -1.0, 0.5], [-0.2, 0.1, 0.2, 1.5]])  # source logit, 3 class logits
    discriminator = AuxiliaryClassifier(FixedOutputs(outputs))
    assert not any(isinstance(m, (nn.Softmax, nn.LogSoftmax)) for m in discriminator.modules())
    generator = LabelsConcatenatedToNoise(nn.Linear(2 + 3, 4), 3)
    real, z = torch.zeros(2, 4), torch.zeros(2, 2)  # D's outputs do not depend on the input (scale = 0)
    y_real, y_fake = torch.tensor([0, 2]), torch.tensor([1, 1])
    objective = Objective(NonSaturatingLoss(), auxiliary_classifier=True)
    frozen = torch.optim.SGD(discriminator.parameters(), lr=0.0)
    stats = discriminator_step(generator, discriminator, frozen, objective, real, z, real_conditions={"y": y_real},
                               fake_conditions={"y": y_fake})
    source, logits = outputs[:, 0], outputs[:, 1:]

    def ce(labels: torch.Tensor) -> float:
        log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        return -log_p[torch.arange(2), labels].mean().item()

    softplus = torch.nn.functional.softplus
    adversarial_d = (softplus(-source).mean() + softplus(source).mean()).item()
    assert stats[0].item() == pytest.approx(adversarial_d + ce(y_real) + ce(y_fake), rel=1e-6)
    assert stats[-2].item() == pytest.approx(ce(y_real) + ce(y_fake), rel=1e-6)
    g_stats = generator_step(generator, discriminator, torch.optim.SGD(generator.parameters(), lr=0.0), objective, z,
                             conditions={"y": y_fake})
    assert g_stats[0].item() == pytest.approx(softplus(-source).mean().item() + ce(y_fake), rel=1e-6)


def test_conditional_batchnorm_changes_a_sample_with_its_class_and_nothing_else():
    torch.manual_seed(2)
    norm = ConditionalBatchNorm2d(3, 4)
    nn.init.normal_(norm.gain.weight)
    nn.init.normal_(norm.bias.weight)
    norm.eval()
    x = torch.randn(3, 3, 2, 2)
    first, second = torch.eye(4)[[0, 1, 2]], torch.eye(4)[[3, 1, 2]]
    out_first, out_second = norm(x, first), norm(x, second)
    assert not torch.allclose(out_first[0], out_second[0])
    torch.testing.assert_close(out_first[1:], out_second[1:])
    torch.testing.assert_close(norm(x, first), out_first)
    fresh = ConditionalBatchNorm2d(3, 4).eval()
    torch.testing.assert_close(fresh(x, first), fresh.norm(x), msg="a new layer starts as plain BatchNorm")


@pytest.mark.parametrize("g_norm", ["class", "shared"])
def test_a_conditional_generator_makes_another_image_for_another_class(g_norm):
    torch.manual_seed(3)
    generator = ResNetGenerator(_spec(g_norm=g_norm, init="orthogonal" if g_norm == "shared" else "xavier")).eval()
    for layer in generator.modules():
        if isinstance(layer, ConditionalBatchNorm2d) and g_norm == "class":  # trained: no longer the identity
            nn.init.normal_(layer.gain.weight)
    z = torch.randn(2, generator.spec.latent_dim)
    same = generator(z, {"y": torch.tensor([1, 1])})
    assert torch.allclose(same[0], generator(z[:1], {"y": torch.tensor([1])})[0], atol=1e-6)
    assert not torch.allclose(same, generator(z, {"y": torch.tensor([0, 2])}))


def test_the_hierarchical_latent_gives_every_block_its_own_chunk():
    """BigGAN's z: one chunk for the input layer, one per block; z_dim rounded down to a multiple (BigGAN-PyTorch)."""
    spec = _spec(data_shape=(1, 16, 16), z_dim=13, g_norm="shared", init="orthogonal")
    assert (spec.g_blocks, spec.z_chunk, spec.latent_dim) == (2, 4, 12)
    torch.manual_seed(4)
    generator = ResNetGenerator(spec).eval()
    z, labels = torch.randn(1, 12), {"y": torch.tensor([2])}
    for chunk in range(3):
        moved = z.clone()
        moved[0, 4 * chunk: 4 * chunk + 4] += 1.0
        assert not torch.allclose(generator(z, labels), generator(moved, labels)), chunk


def test_orthogonal_regularisation_is_the_papers_formula_and_its_gradient():
    """R_β(W) = β‖WWᵀ ⊙ (1 − I)‖²_F (Brock et al. 2019, Eq. 3): by hand on a 2×2 weight, and its gradient
    4β (WWᵀ ⊙ (1 − I)) W against autograd; the shared embedding is left out."""
    weight = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert off_diagonal_gram(weight).item() == pytest.approx(2 * (1 * 3 + 2 * 4) ** 2)
    net = nn.Module()
    net.layer = nn.Linear(2, 2, bias=True)
    net.shared = nn.Embedding(3, 2)
    with torch.no_grad():
        net.layer.weight.copy_(weight)
    penalty = OrthogonalPenalty(1e-4, excluded=("shared.",))(net)
    assert penalty.item() == pytest.approx(1e-4 * 242)
    penalty.backward()
    gram = weight @ weight.T
    expected = 4e-4 * (gram * (1 - torch.eye(2))) @ weight
    torch.testing.assert_close(net.layer.weight.grad, expected)
    assert net.shared.weight.grad is None and net.layer.bias.grad is None


def test_biggan_samples_never_exceed_the_truncation():
    from models.families.biggan import BigGANSampling

    family = get_family("biggan")
    z = family.sample_noise(4000, 16, torch.Generator().manual_seed(0), BigGANSampling(psi=0.5))
    assert z.abs().max().item() <= 0.5 and z.abs().max().item() > 0.45
    plain = family.sample_noise(4000, 16, torch.Generator().manual_seed(0), BigGANSampling())
    assert plain.abs().max().item() > 3.0


def test_families_that_take_any_loss_offer_every_recipe_and_the_others_only_their_papers():
    assert get_variant("cgan-wgan-gp").regulariser == "gradient-penalty"
    assert get_variant("cgan-wgan-gp").optimiser == get_variant("wgan-gp").optimiser
    assert get_variant("acgan-hinge").family == "acgan" and get_variant("projection-lsgan").family == "projection"
    with pytest.raises(KeyError, match="unknown GAN variant 'sngan-wgan-gp'"):
        get_variant("sngan-wgan-gp")
    with pytest.raises(KeyError):
        get_variant("cgan-non-saturating")  # the paper's variant is `cgan` itself
