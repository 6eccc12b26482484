"""Adversarial losses, each a pair of pure functions of the discriminator's outputs.

A *loss* maps the discriminator's raw outputs (logits for the probabilistic
losses, critic values otherwise) to D's and G's objectives; it knows nothing
about networks, optimisers or data (the mimicry / compare_gan shape). The
variants that pick a loss, a regulariser and an optimiser live with their
family (:mod:`models.families.gan`).

Notation: ``r = D(x)`` on real data, ``f = D(G(z))`` on generated data, both
raw network outputs; ``σ`` is the logistic sigmoid, so ``σ(r)`` is the
probability "real" of Goodfellow et al. (2014), and
``log σ(t) = -softplus(-t)``, ``log(1 - σ(t)) = -softplus(t)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F


class AdversarialLoss:
    """Base class: ``d_loss`` is minimised by D, ``g_loss`` by G."""

    name: str = ""
    #: Whether ``σ(output)`` is a probability (then D(x) is logged as σ(r)).
    probabilistic: bool = False
    #: Whether ``E[r] - E[f]`` estimates a Wasserstein-1 distance (Arjovsky et al. 2017).
    wasserstein: bool = False

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def g_loss(self, fake: Tensor) -> Tensor:
        raise NotImplementedError

    def d_output(self, logits: Tensor) -> Tensor:
        """What is reported as D(·): a probability for probabilistic losses, else the raw value."""
        return torch.sigmoid(logits) if self.probabilistic else logits


class MinimaxLoss(AdversarialLoss):
    """The original two-player game of Goodfellow et al. (2014), Eq. 1.

    D maximises ``E[log σ(r)] + E[log(1 - σ(f))]``; G *minimises*
    ``E[log(1 - σ(f))]`` -- the saturating loss, whose gradient
    ``dL/df = -σ(f)`` vanishes when D confidently rejects samples.
    """

    name = "minimax"
    probabilistic = True

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return -F.softplus(fake).mean()


class NonSaturatingLoss(MinimaxLoss):
    """Goodfellow et al. (2014), Sec. 3: G minimises ``-E[log σ(f)]`` instead.

    Same fixed point, but ``dL/df = σ(f) - 1`` stays near -1 when D wins, so G
    still learns early in training. D's loss is the minimax one.
    """

    name = "non-saturating"

    def g_loss(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()


class WassersteinLoss(AdversarialLoss):
    """Arjovsky et al. (2017), Alg. 1: critic maximises ``E[r] - E[f]``; G minimises ``-E[f]``."""

    name = "wasserstein"
    wasserstein = True

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return -fake.mean()


@dataclass(frozen=True)
class LeastSquaresLoss(AdversarialLoss):
    """Mao et al. (2017), Eq. 2 with targets ``a`` (fake), ``b`` (real), ``c`` (G's aim).

    ``L_D = ½E[(r - b)²] + ½E[(f - a)²]``, ``L_G = ½E[(f - c)²]``; the paper's
    default is a=0, b=c=1.
    """

    a: float = 0.0
    b: float = 1.0
    c: float = 1.0
    name: str = "least-squares"

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * (real - self.b).pow(2).mean() + 0.5 * (fake - self.a).pow(2).mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return 0.5 * (fake - self.c).pow(2).mean()


class HingeLoss(AdversarialLoss):
    """Lim & Ye (2017), Geometric GAN; as used by Miyato et al. (2018).

    ``L_D = E[max(0, 1 - r)] + E[max(0, 1 + f)]``, ``L_G = -E[f]``.
    """

    name = "hinge"

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return -fake.mean()


LOSSES: dict[str, type[AdversarialLoss]] = {
    cls.name: cls for cls in (MinimaxLoss, NonSaturatingLoss, WassersteinLoss, LeastSquaresLoss, HingeLoss)}


def build_loss(name: str, lsgan_targets: tuple[float, float, float] = (0.0, 1.0, 1.0)) -> AdversarialLoss:
    """The loss called ``name``; only least squares takes parameters (its targets a, b, c)."""
    if name not in LOSSES:
        raise ValueError(f"unknown adversarial loss {name!r}; choose one of {', '.join(LOSSES)}")
    if LOSSES[name] is LeastSquaresLoss:
        a, b, c = lsgan_targets
        return LeastSquaresLoss(a=a, b=b, c=c)
    return LOSSES[name]()
