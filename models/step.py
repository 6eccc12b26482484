"""One GAN iteration: Algorithm 1 of Goodfellow et al. (2014).

``for k steps``: sample m real examples and m noise vectors, take one
optimiser step on D's loss; then sample m noise vectors and take one
optimiser step on G's loss. The regulariser of the variant acts inside the D
steps (gradient penalty: added to the loss; weight clipping: after the update).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import torch
from torch import Tensor, nn

from models.losses import AdversarialLoss
from models.regularisers import ExponentialMovingAverage, clip_weights, gradient_penalty


@dataclass(frozen=True)
class Objective:
    """The adversarial loss and the regulariser a run uses, with their coefficients."""

    loss: AdversarialLoss
    regulariser: str = "none"  # one of models.regularisers.REGULARISERS
    gp_lambda: float = 10.0
    clip: float = 0.01


@dataclass(frozen=True)
class StepStats:
    """Plain floats for logging. D-side values are means over the k D steps.

    ``d_real``/``d_fake`` are mean D(x) and D(G(z)) (probabilities for the
    probabilistic losses, raw critic values otherwise); ``penalty`` is the
    unscaled gradient penalty (0 without one); ``wasserstein`` is the critic's
    estimate ``E[D(x)] - E[D(G(z))]`` for Wasserstein losses, else None.
    """

    loss_d: float
    loss_g: float
    d_real: float
    d_fake: float
    grad_norm_d: float
    grad_norm_g: float
    penalty: float
    wasserstein: float | None

    def as_dict(self) -> dict[str, float]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def unwrap(module: nn.Module) -> nn.Module:
    """The bare module under a DistributedDataParallel (or similar) wrapper."""
    return getattr(module, "module", module)


def gradient_norm(parameters: Iterable[nn.Parameter]) -> Tensor:
    """Global L2 norm of the gradients, ``sqrt(Σ_p ‖∇p‖²)``."""
    grads = [p.grad.detach().flatten() for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.cat(grads))


def discriminator_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_d: torch.optim.Optimizer,
    objective: Objective,
    real: Tensor,
    z: Tensor,
    rng: torch.Generator | None = None,
) -> Tensor:
    """One D update; returns ``[loss, mean D(x), mean D(G(z)), ‖∇D‖, penalty, mean r - mean f]``."""
    with torch.no_grad():
        fake = generator(z)
    real_out = discriminator(real)
    fake_out = discriminator(fake)
    loss = objective.loss.d_loss(real_out, fake_out)
    penalty = torch.zeros((), device=real.device)
    if objective.regulariser == "gradient-penalty":
        penalty = gradient_penalty(discriminator, real, fake, rng)
        loss = loss + objective.gp_lambda * penalty
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = gradient_norm(discriminator.parameters())
    opt_d.step()
    if objective.regulariser == "weight-clipping":
        clip_weights(discriminator, objective.clip)
    d_output = objective.loss.d_output
    return torch.stack(
        [
            loss.detach(),
            d_output(real_out.detach()).mean(),
            d_output(fake_out.detach()).mean(),
            grad_norm.to(loss.device),
            penalty.detach(),
            (real_out.detach().mean() - fake_out.detach().mean()),
        ]
    )


def generator_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    objective: Objective,
    z: Tensor,
) -> Tensor:
    """One G update through a frozen D; returns ``[loss, ‖∇G‖]``.

    D is called unwrapped (no DDP gradient reduction: its weights are not
    updated here) with ``requires_grad`` off, so no D gradients are computed.
    """
    bare_d = unwrap(discriminator)
    bare_d.requires_grad_(False)
    try:
        loss = objective.loss.g_loss(bare_d(generator(z)))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        bare_d.requires_grad_(True)
    grad_norm = gradient_norm(generator.parameters())
    opt_g.step()
    return torch.stack([loss.detach(), grad_norm.to(loss.device)])


def train_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    objective: Objective,
    next_real: Callable[[], Tensor],
    sample_z: Callable[[int], Tensor],
    k_d_steps: int,
    ema: ExponentialMovingAverage | None = None,
    rng: torch.Generator | None = None,
) -> StepStats:
    """k D updates (each on a fresh real batch from ``next_real``), then one G update.

    The G batch has the size of the last real batch; ``rng`` draws the
    gradient penalty's interpolation weights. Returns plain floats (one host
    synchronisation per call).
    """
    if k_d_steps < 1:
        raise ValueError(f"k_d_steps must be >= 1, got {k_d_steps}")
    d_stats = []
    for _ in range(k_d_steps):
        real = next_real()
        d_stats.append(discriminator_step(generator, discriminator, opt_d, objective, real, sample_z(real.shape[0]), rng))
    g_stats = generator_step(generator, discriminator, opt_g, objective, sample_z(real.shape[0]))
    if ema is not None:
        ema.update(unwrap(generator))
    loss_d, d_real, d_fake, grad_d, penalty, w_estimate = torch.stack(d_stats).mean(dim=0).tolist()
    loss_g, grad_g = g_stats.tolist()
    return StepStats(
        loss_d=loss_d,
        loss_g=loss_g,
        d_real=d_real,
        d_fake=d_fake,
        grad_norm_d=grad_d,
        grad_norm_g=grad_g,
        penalty=penalty,
        wasserstein=w_estimate if objective.loss.wasserstein else None,
    )


def build_optimiser(name: str, parameters: Iterable[nn.Parameter], lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015) with ``betas``, or RMSprop (as WGAN's Alg. 1) which has none."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=betas)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    raise ValueError(f"unknown optimiser {name!r}; choose 'adam' or 'rmsprop'")
