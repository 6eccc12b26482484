"""Each loss against values computed by hand on fixed logits (formulas of the cited papers)."""

from __future__ import annotations

import math

import pytest
import torch

from models.families import get_variant, variant_names
from models.family import VARIANTS
from models.losses import HingeLoss, LeastSquaresLoss, MinimaxLoss, NonSaturatingLoss, WassersteinLoss, build_loss

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.5])


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_minimax_by_hand():
    loss = MinimaxLoss()
    d_expected = -mean(math.log(sigmoid(r)) for r in REAL.tolist()) - mean(math.log(1 - sigmoid(f)) for f in FAKE.tolist())
    g_expected = mean(math.log(1 - sigmoid(f)) for f in FAKE.tolist())  # G *minimises* E[log(1 - D(G(z)))]
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g_loss(FAKE).item() == pytest.approx(g_expected, rel=1e-6)


def test_non_saturating_by_hand():
    """Same D objective as minimax (Goodfellow et al. 2014, Sec. 3 changes only G's), computed by hand here."""
    loss = NonSaturatingLoss()
    d_expected = -mean(math.log(sigmoid(r)) for r in REAL.tolist()) - mean(math.log(1 - sigmoid(f)) for f in FAKE.tolist())
    assert d_expected == pytest.approx(1.4525, abs=1e-4)  # (0.1269 + 1.3133 + 0.4741)/3 + (0.0486 + 0.6931 + 1.7014)/3
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g_loss(FAKE).item() == pytest.approx(-mean(math.log(sigmoid(f)) for f in FAKE.tolist()), rel=1e-6)


def test_wasserstein_by_hand():
    loss = WassersteinLoss()
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(mean(FAKE.tolist()) - mean(REAL.tolist()))
    assert loss.g_loss(FAKE).item() == pytest.approx(-mean(FAKE.tolist()))
    assert loss.wasserstein and not loss.probabilistic


def test_least_squares_by_hand():
    loss = LeastSquaresLoss(a=0.0, b=1.0, c=1.0)
    d_expected = 0.5 * mean((r - 1) ** 2 for r in REAL.tolist()) + 0.5 * mean(f**2 for f in FAKE.tolist())
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected)
    assert loss.g_loss(FAKE).item() == pytest.approx(0.5 * mean((f - 1) ** 2 for f in FAKE.tolist()))
    shifted = LeastSquaresLoss(a=-1.0, b=1.0, c=0.0)
    assert shifted.g_loss(FAKE).item() == pytest.approx(0.5 * mean(f**2 for f in FAKE.tolist()))


def test_least_squares_with_distinct_targets_by_hand():
    """Mao et al. (2017), Eq. 2 with a ≠ b ≠ c: L_D = ½E[(r - b)²] + ½E[(f - a)²] pulls real outputs to b and fake
    ones to a; L_G = ½E[(f - c)²] pulls fakes to c. Expected values written out for REAL = (2, -1, 0.5),
    FAKE = (-3, 0, 1.5), a = -0.5, b = 2, c = 0.25."""
    loss = LeastSquaresLoss(a=-0.5, b=2.0, c=0.25)
    d_expected = 0.5 * (0.0 + 9.0 + 2.25) / 3 + 0.5 * (6.25 + 0.25 + 4.0) / 3  # (r - 2)², (f + 0.5)²
    g_expected = 0.5 * (10.5625 + 0.0625 + 1.5625) / 3  # (f - 0.25)²
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g_loss(FAKE).item() == pytest.approx(g_expected, rel=1e-6)
    built = build_loss("least-squares", (-0.5, 2.0, 0.25))
    assert built.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)


def test_hinge_by_hand():
    loss = HingeLoss()
    d_expected = mean(max(0.0, 1 - r) for r in REAL.tolist()) + mean(max(0.0, 1 + f) for f in FAKE.tolist())
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected)
    assert loss.g_loss(FAKE).item() == pytest.approx(-mean(FAKE.tolist()))


def _g_gradient(loss, logit: float) -> float:
    fake = torch.tensor([logit], requires_grad=True)
    loss.g_loss(fake).backward()
    return fake.grad.item()


@pytest.mark.parametrize("logit", [-5.0, -10.0, -20.0])
def test_saturating_gradient_vanishes_when_d_rejects(logit):
    """Goodfellow et al. 2014, Sec. 3: as D(G(z)) → 0, ∂/∂f log(1 - σ(f)) = -σ(f) → 0 (G stops learning),
    while the non-saturating loss keeps ∂/∂f [-log σ(f)] = σ(f) - 1 → -1."""
    saturating = _g_gradient(MinimaxLoss(), logit)
    non_saturating = _g_gradient(NonSaturatingLoss(), logit)
    assert saturating == pytest.approx(-sigmoid(logit), rel=1e-5)
    assert abs(saturating) < 1e-2
    assert non_saturating == pytest.approx(sigmoid(logit) - 1.0, rel=1e-5)
    assert abs(non_saturating) > 0.99


def test_registry_holds_the_six_variants_with_paper_defaults():
    assert {name for name in variant_names() if VARIANTS[name].family == "gan" and not name.startswith("ns-")} == {
        "minimax", "non-saturating", "wgan", "wgan-gp", "lsgan", "hinge"}
    wgan, wgan_gp = get_variant("wgan"), get_variant("wgan-gp")
    assert (wgan.regulariser, wgan.optimiser.name, wgan.optimiser.lr_d, wgan.optimiser.k_d_steps) == (
        "weight-clipping", "rmsprop", 5e-5, 5)
    assert (wgan_gp.regulariser, wgan_gp.optimiser.betas, wgan_gp.optimiser.lr_d, wgan_gp.optimiser.k_d_steps) == (
        "gradient-penalty", (0.0, 0.9), 1e-4, 5)
    assert isinstance(build_loss(get_variant("lsgan").loss.name, (0.0, 1.0, 1.0)), LeastSquaresLoss)


def test_unknown_variant_names_the_registered_ones():
    with pytest.raises(KeyError, match="registered variants: .*hinge"):
        get_variant("vanilla")
