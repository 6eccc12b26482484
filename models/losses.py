"""Adversarial losses and the registry of GAN variants.

A *loss* is a pair of pure functions of the discriminator's raw outputs
(logits for the probabilistic losses, critic values otherwise); it knows
nothing about networks, optimisers or data (the mimicry / compare_gan shape).
A *variant* is a name bound to one loss, one regulariser and the optimiser
settings its paper used. Adding a variant is one ``register(Variant(...))``
call in this file.

Notation: ``r = D(x)`` on real data, ``f = D(G(z))`` on generated data, both
raw network outputs; ``σ`` is the logistic sigmoid, so ``σ(r)`` is the
probability "real" of Goodfellow et al. (2014), and
``log σ(t) = -softplus(-t)``, ``log(1 - σ(t)) = -softplus(t)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class OptimiserDefaults:
    """The optimiser settings a variant's paper used (overridable from the config)."""

    name: str = "adam"  # "adam" or "rmsprop" (RMSprop ignores ``betas``)
    lr_g: float = 2.0e-4
    lr_d: float = 2.0e-4
    betas: tuple[float, float] = (0.5, 0.999)
    k_d_steps: int = 1


#: Radford et al. (2016), Sec. 4: Adam, lr 2e-4, β1 = 0.5, one D step per G step.
DCGAN_ADAM = OptimiserDefaults()


@dataclass(frozen=True)
class Variant:
    """A named GAN variant: one adversarial loss, one regulariser, its paper's optimiser.

    ``regulariser`` is ``"none"``, ``"weight-clipping"`` or ``"gradient-penalty"``
    (see ``models.regularisers``).
    """

    name: str
    loss: type[AdversarialLoss]
    regulariser: str = "none"
    optimiser: OptimiserDefaults = field(default=DCGAN_ADAM)
    reference: str = ""


VARIANTS: dict[str, Variant] = {}


def register(variant: Variant) -> Variant:
    if variant.name in VARIANTS:
        raise ValueError(f"GAN variant {variant.name!r} is already registered")
    VARIANTS[variant.name] = variant
    return variant


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(
            f"unknown GAN variant {name!r}; registered variants: {', '.join(sorted(VARIANTS))}"
        ) from None


def build_loss(variant: Variant, lsgan_targets: tuple[float, float, float] = (0.0, 1.0, 1.0)) -> AdversarialLoss:
    """Instantiate the variant's loss; only least squares takes parameters (a, b, c)."""
    if variant.loss is LeastSquaresLoss:
        a, b, c = lsgan_targets
        return LeastSquaresLoss(a=a, b=b, c=c)
    return variant.loss()


register(Variant("minimax", MinimaxLoss, reference="Goodfellow et al. 2014, Eq. 1"))
register(Variant("non-saturating", NonSaturatingLoss, reference="Goodfellow et al. 2014, Sec. 3"))
register(
    Variant(
        "wgan",
        WassersteinLoss,
        regulariser="weight-clipping",
        # Arjovsky et al. 2017, Alg. 1: RMSProp, α = 5e-5, n_critic = 5, c = 0.01.
        optimiser=OptimiserDefaults(name="rmsprop", lr_g=5.0e-5, lr_d=5.0e-5, k_d_steps=5),
        reference="Arjovsky et al. 2017, Alg. 1",
    )
)
register(
    Variant(
        "wgan-gp",
        WassersteinLoss,
        regulariser="gradient-penalty",
        # Gulrajani et al. 2017, Alg. 1: Adam(α = 1e-4, β1 = 0, β2 = 0.9), n_critic = 5, λ = 10.
        optimiser=OptimiserDefaults(name="adam", lr_g=1.0e-4, lr_d=1.0e-4, betas=(0.0, 0.9), k_d_steps=5),
        reference="Gulrajani et al. 2017, Alg. 1",
    )
)
register(Variant("lsgan", LeastSquaresLoss, reference="Mao et al. 2017, Eq. 2"))
register(Variant("hinge", HingeLoss, reference="Lim & Ye 2017; Miyato et al. 2018"))
