"""One GAN iteration: Algorithm 1 of Goodfellow et al. (2014).

``for k steps``: sample m real examples and m noise vectors, take one
optimiser step on D's loss; then sample m noise vectors and take one
optimiser step on G's loss. The regulariser of the variant acts inside the D
steps (gradient penalty: added to the loss; weight clipping: after the update).

**Conditions.** A real batch may carry conditions besides ``x`` (class labels ``y`` for a conditional GAN,
input images ``source`` for translation; :data:`models.family.TASK_INPUTS`). Then D judges ``D(x, c)`` and G
generates ``G(z, c)``: networks of a conditioned family take ``(inputs, conditions)``, unconditioned ones
``(inputs)`` alone (:func:`conditioned`). D sees the real batch's conditions with real data and the generated
batch's with generated data; G's conditions are the real batch's unless the family draws its own (a conditional
GAN samples labels, Mirza & Osindero 2014; translation keeps the batch's inputs, Isola et al. 2017).

**An auxiliary classifier** (AC-GAN, Odena et al. 2017, Sec. 3): with ``Objective.auxiliary_classifier`` D returns
``(source output, class logits)``. D minimises the adversarial loss plus ``L_C`` on real and on generated data,
G its adversarial loss plus ``L_C`` on its samples, where ``L_C = −E[log p(C = y | x)]`` is the cross-entropy of the
raw class logits with the labels (the softmax is applied once, inside the cross-entropy). **A penalty on G's
weights** (BigGAN's orthogonal regularisation, :mod:`models.orthogonal`) is added to G's loss.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.parallel import DataParallel, DistributedDataParallel

from models.ema import ExponentialMovingAverage
from models.losses import AdversarialLoss
from models.precision import FP32, Precision
from models.progress import Progress
from models.regularisers import Regulariser

#: What a real batch carries besides ``x`` (``y``, ``source``, ...), passed to G and D.
Conditions = dict[str, Tensor]


@dataclass(frozen=True)
class Objective:
    """The adversarial loss and the regulariser a run uses (two separate choices, as in compare_gan)."""

    loss: AdversarialLoss
    regulariser: Regulariser = Regulariser()
    #: D returns (source output, class logits) and both players add the class cross-entropy (AC-GAN).
    auxiliary_classifier: bool = False
    #: The weight of the class terms (AC-GAN weighs them as the source terms: 1).
    class_weight: float = 1.0
    #: A penalty of G's weights added to G's loss (e.g. orthogonal regularisation), or None.
    generator_penalty: Callable[[nn.Module], Tensor] | None = None


def _backward_and_step(loss: Tensor, optimiser: torch.optim.Optimizer, parameters: Iterable[nn.Parameter],
                       scaler: torch.amp.GradScaler | None) -> tuple[Tensor, Tensor]:
    """Backward, measure the (unscaled) gradient norm, step; returns (the norm, 1.0 if the step was skipped, else
    0.0), both tensors on the loss's device: no host sync, so a GPU step runs on while the host queues the next.

    With fp16 loss scaling, ``GradScaler`` skips the update whose scaled gradients overflowed and halves
    its scale (Micikevicius et al. 2018): such a step's loss and norm are artefacts of the scale, not of
    training, and the caller leaves them out. The step is skipped exactly when an unscaled gradient holds an inf or
    a NaN (``GradScaler.unscale_``'s test), i.e. when their largest magnitude is not finite.
    """
    optimiser.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        norm = gradient_norm(parameters)
        optimiser.step()
        return norm, torch.zeros((), device=loss.device)
    scaler.scale(loss).backward()
    scaler.unscale_(optimiser)
    parameters = list(parameters)
    norm = gradient_norm(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    largest = torch.nn.utils.get_total_norm(grads, norm_type=math.inf) if grads else torch.zeros(())
    scaler.step(optimiser)  # skipped when the unscaled gradients are not finite
    scaler.update()
    return norm, (~torch.isfinite(largest)).float().to(loss.device)


@dataclass(frozen=True)
class StepStats:
    """Plain floats for logging. D-side values are means over the k D steps.

    ``class_loss_d`` (real + generated) and ``class_loss_g`` are the auxiliary classifier's cross-entropies,
    ``penalty_g`` G's weight penalty (each None when the objective has none).
    ``d_real``/``d_fake`` are mean D(x) and D(G(z)) (probabilities for the
    probabilistic losses, raw critic values otherwise); ``penalty`` is the
    unscaled gradient penalty (0 without one); ``wasserstein`` is the critic's
    estimate ``E[D(x)] - E[D(G(z))]`` for Wasserstein losses, else None.
    With fp16 loss scaling, ``skipped_d`` (of the k D updates) and ``skipped_g``
    count the updates the scaler skipped, whose values are left out of the
    means; a side whose every update was skipped reports None.
    """

    loss_d: float | None
    loss_g: float | None
    d_real: float | None
    d_fake: float | None
    grad_norm_d: float | None
    grad_norm_g: float | None
    penalty: float | None
    wasserstein: float | None
    skipped_d: float | None = None
    skipped_g: float | None = None
    class_loss_d: float | None = None
    class_loss_g: float | None = None
    penalty_g: float | None = None

    def as_dict(self) -> dict[str, float]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def unwrap(module: nn.Module) -> nn.Module:
    """The bare module under a ``DistributedDataParallel`` or ``DataParallel`` wrapper (any other module as it is,
    even one with an attribute called ``module``)."""
    return module.module if isinstance(module, (DistributedDataParallel, DataParallel)) else module


def conditioned(network: Callable[..., Tensor], inputs: Tensor, conditions: Conditions | None) -> Tensor:
    """``network(inputs, conditions)`` when there are conditions, else ``network(inputs)``."""
    return network(inputs, conditions) if conditions else network(inputs)


def split_batch(batch: Tensor | dict[str, Tensor]) -> tuple[Tensor, Conditions]:
    """A real batch as (``x``, its conditions); a bare tensor has none."""
    if isinstance(batch, Tensor):
        return batch, {}
    return batch["x"], {key: value for key, value in batch.items() if key != "x"}


def adversarial_outputs(output: Tensor | tuple[Tensor, Tensor], objective: Objective) -> tuple[Tensor, Tensor | None]:
    """D's output as (adversarial outputs in fp32, class logits in fp32 or None without an auxiliary classifier)."""
    if objective.auxiliary_classifier:
        source, logits = output
        return source.float(), logits.float()
    return output.float(), None


def class_loss(logits: Tensor, conditions: Conditions) -> Tensor:
    """AC-GAN's ``L_C`` as a loss: ``−mean log softmax(logits)[y]`` from *raw* logits (Odena et al. 2017, Eq. 2)."""
    return F.cross_entropy(logits, conditions["y"])


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
    precision: Precision = FP32,
    real_conditions: Conditions | None = None,
    fake_conditions: Conditions | None = None,
) -> Tensor:
    """One D update; returns ``[loss, mean D(x), mean D(G(z)), ‖∇D‖, penalty, mean r - mean f, class loss, skipped]``
    (losses in fp32; the regulariser judges its points under the real conditions, by D's adversarial output)."""
    with precision.autocast():
        with torch.no_grad():
            fake = conditioned(generator, z, fake_conditions)
        real_out, real_logits = adversarial_outputs(conditioned(discriminator, real, real_conditions), objective)
        fake_out, fake_logits = adversarial_outputs(conditioned(discriminator, fake, fake_conditions), objective)
        loss = objective.loss.d_loss(real_out, fake_out)
        classes = torch.zeros((), device=real.device)
        if real_logits is not None:
            classes = class_loss(real_logits, real_conditions) + class_loss(fake_logits, fake_conditions)
            loss = loss + objective.class_weight * classes
        scale = precision.d_scale(real)

        def critic(points: Tensor) -> Tensor:
            return adversarial_outputs(conditioned(discriminator, points, real_conditions), objective)[0]

        penalty = objective.regulariser.penalty(critic, real, fake, rng, scale)
        if penalty is None:
            penalty = torch.zeros((), device=real.device)
        else:
            loss = loss + objective.regulariser.weight * penalty
    grad_norm, skipped = _backward_and_step(loss, opt_d, discriminator.parameters(), precision.scaler_d)
    objective.regulariser.after_update(discriminator)
    d_output = objective.loss.d_output
    return torch.stack(
        [
            loss.detach(),
            d_output(real_out.detach()).mean(),
            d_output(fake_out.detach()).mean(),
            grad_norm.to(loss.device),
            penalty.detach(),
            (real_out.detach().mean() - fake_out.detach().mean()),
            classes.detach(),
            skipped,
        ]
    )


def generator_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    objective: Objective,
    z: Tensor,
    precision: Precision = FP32,
    conditions: Conditions | None = None,
) -> Tensor:
    """One G update through a frozen D; returns ``[loss, ‖∇G‖, class loss, weight penalty, skipped]`` (G and D both
    see ``conditions``; the loss includes the class term and the penalty of G's weights, computed in fp32).

    D is called unwrapped (no DDP gradient reduction: its weights are not
    updated here) with ``requires_grad`` off, so no D gradients are computed.
    D stays in training mode, as in PyTorch's DCGAN example (pytorch/examples,
    ``dcgan/main.py``, after Radford et al. 2016): a BatchNorm layer of D
    normalises G's batch with that batch's statistics and updates its running
    statistics here, while D's weights stay as they are.
    """
    bare_d = unwrap(discriminator)
    bare_d.requires_grad_(False)
    try:
        with precision.autocast():
            output, logits = adversarial_outputs(
                conditioned(bare_d, conditioned(generator, z, conditions), conditions), objective)
            loss = objective.loss.g_loss(output)
            classes = torch.zeros((), device=loss.device)
            if logits is not None:
                classes = class_loss(logits, conditions)
                loss = loss + objective.class_weight * classes
        weights = torch.zeros((), device=loss.device)
        if objective.generator_penalty is not None:
            weights = objective.generator_penalty(unwrap(generator))
            loss = loss + weights
        grad_norm, skipped = _backward_and_step(loss, opt_g, generator.parameters(), precision.scaler_g)
    finally:
        bare_d.requires_grad_(True)
    return torch.stack([loss.detach(), grad_norm.to(loss.device), classes.detach(), weights.detach(),
                        skipped])


def train_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    objective: Objective,
    next_real: Callable[[], Tensor | dict[str, Tensor]],
    sample_z: Callable[[int], Tensor],
    k_d_steps: int,
    ema: ExponentialMovingAverage | None = None,
    rng: torch.Generator | None = None,
    precision: Precision = FP32,
    fake_conditions: Callable[[Conditions], Conditions] | None = None,
    progress: Progress | None = None,
    generator_update: Callable[[Tensor], Tensor] | None = None,
) -> StepStats:
    """k D updates (each on a fresh real batch from ``next_real``), then one G update.

    ``next_real`` returns ``x`` or a batch dict (``x`` and its conditions, see the module docstring);
    ``fake_conditions`` maps a real batch's conditions to G's (default: the same). The G batch has the size
    and the conditions of the last real batch; ``rng`` draws the gradient penalty's interpolation weights;
    ``precision`` sets autocast and loss scaling; ``progress`` (where the run stands; step 0 without) drives the
    EMA's start and ramp-up; ``generator_update`` replaces the G update (:func:`generator_step`) by another of G's
    objectives (e.g. feature matching), given G's latents and returning :func:`generator_step`'s statistics.
    Returns plain floats (one host synchronisation per call).
    """
    if k_d_steps < 1:
        raise ValueError(f"k_d_steps must be >= 1, got {k_d_steps}")
    d_stats = []
    for _ in range(k_d_steps):
        real, real_conditions = split_batch(next_real())
        generated_conditions = fake_conditions(real_conditions) if fake_conditions else real_conditions
        d_stats.append(discriminator_step(generator, discriminator, opt_d, objective, real, sample_z(real.shape[0]), rng,
                                          precision, real_conditions, generated_conditions))
    z = sample_z(real.shape[0])
    g_stats = (generator_update(z) if generator_update is not None else
               generator_step(generator, discriminator, opt_g, objective, z, precision, generated_conditions))
    if ema is not None:
        ema.update(unwrap(generator), progress.step if progress is not None else 0)
    return step_statistics(torch.stack(d_stats), g_stats, objective, scaled=precision.scaler_d is not None)


def step_statistics(d_stats: Tensor, g_stats: Tensor, objective: Objective, scaled: bool) -> StepStats:
    """Means over the D updates that were not skipped (all of them without loss scaling); one host sync."""
    kept = d_stats[:, -1] == 0
    d_values = d_stats[kept, :-1].mean(dim=0).tolist() if bool(kept.any()) else [None] * (d_stats.shape[1] - 1)
    loss_d, d_real, d_fake, grad_d, penalty, w_estimate, class_d = d_values
    loss_g, grad_g, class_g, penalty_g, skipped_g = g_stats.tolist()
    if skipped_g:
        loss_g = grad_g = class_g = penalty_g = None
    return StepStats(
        loss_d=loss_d,
        loss_g=loss_g,
        d_real=d_real,
        d_fake=d_fake,
        grad_norm_d=grad_d,
        grad_norm_g=grad_g,
        penalty=penalty,
        wasserstein=w_estimate if objective.loss.wasserstein else None,
        skipped_d=float((~kept).sum()) if scaled else None,
        skipped_g=skipped_g if scaled else None,
        class_loss_d=class_d if objective.auxiliary_classifier else None,
        class_loss_g=class_g if objective.auxiliary_classifier else None,
        penalty_g=penalty_g if objective.generator_penalty is not None else None,
    )


def build_optimiser(name: str, parameters: Iterable[nn.Parameter], lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015) with ``betas``, or RMSprop (as WGAN's Alg. 1) which has none."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=betas)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr)
    raise ValueError(f"unknown optimiser {name!r}; choose 'adam' or 'rmsprop'")
