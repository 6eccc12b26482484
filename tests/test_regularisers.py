"""Gradient penalty against an analytic case, weight clipping, EMA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models.regularisers import (GradientPenalty, Regulariser, WeightClipping, build_regulariser, clip_weights,
                                 gradient_penalty)


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = w·x + b has ∇ₓD = w everywhere, so the penalty is (‖w‖₂ - 1)² whatever x̂ is,
    and its gradient w.r.t. w is 2(‖w‖ - 1) w / ‖w‖ (this needs create_graph=True)."""
    torch.manual_seed(0)
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))  # ‖w‖ = 5
    real, fake = torch.randn(16, 3), torch.randn(16, 3)
    penalty = gradient_penalty(lambda x: critic(x).view(-1), real, fake)
    assert penalty.item() == pytest.approx((5.0 - 1.0) ** 2, rel=1e-6)
    penalty.backward()
    w = critic.weight.detach()
    expected = 2 * (5.0 - 1.0) * w / 5.0
    torch.testing.assert_close(critic.weight.grad, expected)


def test_gradient_penalty_of_a_unit_norm_critic_is_zero():
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.8]]))
    assert gradient_penalty(lambda x: critic(x).view(-1), torch.randn(8, 2), torch.randn(8, 2)).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_uses_per_sample_norms_for_images():
    """For D(x) = Σ a ⊙ x over (C, H, W), each sample's gradient is a, norm ‖a‖ over all pixels."""
    a = torch.randn(1, 2, 4, 4)
    penalty = gradient_penalty(lambda x: (x * a).flatten(1).sum(1), torch.randn(5, 2, 4, 4), torch.randn(5, 2, 4, 4))
    assert penalty.item() == pytest.approx((a.norm().item() - 1.0) ** 2, rel=1e-5)


def test_clip_weights_clamps_every_parameter():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    clip_weights(net, 0.01)
    assert all(p.abs().max().item() <= 0.01 for p in net.parameters())


def test_gradient_penalty_is_unchanged_by_the_loss_scale():
    """fp16 training takes the inner gradient of scaled scores and divides back: same penalty."""
    critic = nn.Linear(3, 1)
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    plain = gradient_penalty(lambda x: critic(x).view(-1), real, fake, torch.Generator().manual_seed(0))
    scaled = gradient_penalty(lambda x: critic(x).view(-1), real, fake, torch.Generator().manual_seed(0), loss_scale=65536.0)
    assert scaled.item() == pytest.approx(plain.item(), rel=1e-6)


def test_regularisers_are_objects_with_a_penalty_and_an_after_update_hook():
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    penalty = build_regulariser("gradient-penalty", gp_lambda=7.0)
    assert isinstance(penalty, GradientPenalty) and penalty.weight == 7.0 and penalty.per_sample
    assert penalty.penalty(lambda x: critic(x).view(-1), real, fake, None, 1.0).item() == pytest.approx(16.0)
    clipping = build_regulariser("weight-clipping", wgan_clip=0.5)
    assert isinstance(clipping, WeightClipping)
    assert clipping.penalty(lambda x: critic(x).view(-1), real, fake, None, 1.0) is None
    clipping.after_update(critic)
    assert critic.weight.abs().max().item() == 0.5
    assert build_regulariser("none") == Regulariser() and Regulariser().penalty(critic, real, fake, None, 1.0) is None
    with pytest.raises(ValueError, match="unknown regulariser 'r1'"):
        build_regulariser("r1")


def test_gradient_penalty_of_a_non_linear_critic_at_per_sample_interpolates():
    """Gulrajani et al. (2017), Alg. 1 lines 4-7: x̂ᵢ = εᵢ xᵢ + (1 - εᵢ) x̃ᵢ with its own εᵢ ~ U[0, 1] per sample, and
    the penalty E[(‖∇D(x̂)‖₂ - 1)²]. The critic D(x) = v·tanh(Wx) has ∇D(x) = Wᵀ(v ⊙ (1 - tanh²(Wx))), which
    changes with x, so the points it is evaluated at matter: they are recorded, checked to lie strictly inside
    each sample's own segment with ε varying across the batch, and the penalty recomputed in numpy from them
    (to the fp32 the norms are taken in)."""
    rng = np.random.default_rng(0)
    w, v = rng.normal(size=(5, 3)), rng.normal(size=5)
    real, fake = torch.tensor(rng.normal(size=(64, 3))), torch.tensor(rng.normal(size=(64, 3)) + 2.0)
    seen = []

    def critic(x):
        seen.append(x.detach().numpy().copy())
        return torch.tanh(x @ torch.tensor(w).T) @ torch.tensor(v)

    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0)).item()
    (points,) = seen
    direction = (real - fake).numpy()
    eps = np.sum((points - fake.numpy()) * direction, axis=1) / np.sum(direction**2, axis=1)
    np.testing.assert_allclose(points, eps[:, None] * real.numpy() + (1 - eps[:, None]) * fake.numpy(), atol=1e-12)
    assert eps.min() > 0 and eps.max() < 1, "interpolates, not the real (or generated) points"
    assert eps.std() > 0.15, "one ε per sample (U[0, 1] has std 0.29), not one for the whole batch"
    grads = (v * (1 - np.tanh(points @ w.T) ** 2)) @ w
    assert penalty == pytest.approx(np.mean((np.linalg.norm(grads, axis=1) - 1) ** 2), rel=1e-6)


def test_clip_weights_clamps_to_the_symmetric_interval():
    """Arjovsky et al. (2017), Alg. 1 line 7: w ← clip(w, -c, c): negative weights below -c become -c, those inside
    [-c, c] are unchanged (numpy's clip as the reference)."""
    net = nn.Linear(3, 2)
    values = np.array([[-0.5, -0.004, 0.0], [0.003, 0.2, -0.01]])
    with torch.no_grad():
        net.weight.copy_(torch.tensor(values))
        net.bias.copy_(torch.tensor([-0.02, 0.005]))
    clip_weights(net, 0.01)
    np.testing.assert_allclose(net.weight.detach().numpy(), np.clip(values, -0.01, 0.01), rtol=1e-6)
    np.testing.assert_allclose(net.bias.detach().numpy(), [-0.01, 0.005], rtol=1e-6)
