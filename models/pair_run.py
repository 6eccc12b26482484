"""One generator and one discriminator trained by the shared step (:func:`models.step.train_step`): the
:class:`~models.family.FamilyRun` of every family that is "a G, a D, two optimisers" -- ``gan``, ``cgan``,
``acgan``, ``projection``, ``sngan``, ``biggan``. A family hands it its networks, its optimiser settings and its
objective; this class owns the rest: DDP wrapping, identical initial weights on every worker, the optimisers, loss
scalers, G's EMA (:mod:`models.ema`), labels for G in class-conditional runs, checkpoints and schedules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from models.conditioning import sampled_labels
from models.ema import ExponentialMovingAverage
from models.family import Batch, Curve, FamilyRun, Hyperparameters, OptimiserDefaults, OptimiserOptions, Progress, RunContext
from models.family import Variant
from models.losses import build_loss
from models.precision import Precision
from models.regularisers import build_regulariser
from models.step import Objective, build_optimiser, train_step, unwrap

#: Step statistic → MLflow metric name, for every G/D pair.
PAIR_STEP_METRICS = {
    "loss_d": "loss/d", "loss_g": "loss/g", "d_real": "d/real", "d_fake": "d/fake", "grad_norm_d": "grad_norm/d",
    "grad_norm_g": "grad_norm/g", "penalty": "penalty/gp", "wasserstein": "wasserstein/estimate",
    "skipped_d": "amp/skipped_d", "skipped_g": "amp/skipped_g",
}

#: The report's figures of a G/D pair's step statistics.
PAIR_CURVES = (
    Curve(("loss_d",), "Discriminator loss", "L_D"),
    Curve(("loss_g",), "Generator loss", "L_G"),
    Curve(("d_real",), "D(x) on real data", "mean D(x)"),
    Curve(("d_fake",), "D(G(z)) on generated data", "mean D(G(z))"),
    Curve(("grad_norm_d",), "Discriminator gradient norm", "‖∇D‖", log=True),
    Curve(("grad_norm_g",), "Generator gradient norm (vanishing gradients show here)", "‖∇G‖", log=True),
    Curve(("wasserstein",), "Critic's Wasserstein estimate (WGAN variants)", "E[D(x)] − E[D(G(z))]"),
)

#: The batch of noise (and labels) the EMA generator's standing statistics are estimated from (DCGAN's batch).
STANDING_BATCH = 64


@dataclass(frozen=True)
class OptimiserSettings:
    """G's and D's optimiser: Adam or RMSprop, their learning rates, Adam's betas, D updates per G update."""

    name: str
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    k_d_steps: int


def resolve_optimiser(defaults: OptimiserDefaults, chosen: OptimiserOptions) -> OptimiserSettings:
    """The variant's paper optimiser with what params set instead, learning rates times ``train.lr_scaling``'s
    factor."""
    return OptimiserSettings(
        name=chosen.name or defaults.name,
        lr_g=(chosen.lr_g or defaults.lr_g) * chosen.lr_factor,
        lr_d=(chosen.lr_d or defaults.lr_d) * chosen.lr_factor,
        betas=chosen.betas or defaults.betas,
        k_d_steps=chosen.k_d_steps or defaults.k_d_steps,
    )


@dataclass(frozen=True)
class ObjectiveSettings:
    """The adversarial loss and the regulariser with their coefficients (the fields every pair's settings share)."""

    loss: str  # a name of models.losses.LOSSES
    regulariser: str  # a name of models.regularisers.REGULARISERS
    gp_lambda: float
    wgan_clip: float
    lsgan_targets: tuple[float, float, float]

    def objective(self, **extra: Any) -> Objective:
        """The :class:`~models.step.Objective` of these settings; ``extra``: its other fields (an auxiliary
        classifier, a penalty of G's weights)."""
        return Objective(loss=build_loss(self.loss, self.lsgan_targets),
                         regulariser=build_regulariser(self.regulariser, self.gp_lambda, self.wgan_clip), **extra)


def resolve_objective(variant: Variant, hyper: Hyperparameters) -> dict[str, Any]:
    """The :class:`ObjectiveSettings` fields of a variant under params: ``loss.regulariser: auto`` is the variant's."""
    loss = hyper.loss
    return {"loss": variant.loss.name,
            "regulariser": variant.regulariser if loss.regulariser == "auto" else loss.regulariser,
            "gp_lambda": loss.gp_lambda, "wgan_clip": loss.wgan_clip, "lsgan_targets": loss.lsgan_targets}


@dataclass(frozen=True)
class EMASchedule:
    """A family's own EMA of G (decay, start step, ramp-up), used when ``train.ema_decay`` is null."""

    decay: float
    start: int = 0
    rampup: float | None = None


class PairRun(FamilyRun):
    """G, D, their optimisers, loss scalers and G's EMA on one worker (see the module docstring).

    ``networks`` builds the bare (G, D) pair; it runs under the context's seed, so every worker starts from the same
    weights and the global RNG is untouched. With ``n_classes`` > 0 the run is class-conditional: D sees the real
    batch's labels with real data, and G is asked for uniformly drawn labels. The EMA is the context's
    (``train.ema_*``) when it has one, else ``own_ema`` (a family's paper default), else none.
    """

    def __init__(self, networks: Callable[[], tuple[nn.Module, nn.Module]], optimiser: OptimiserSettings,
                 objective: Objective, latent_dim: int, context: RunContext, n_classes: int = 0,
                 own_ema: EMASchedule | None = None) -> None:
        self.optimiser, self.objective, self.device = optimiser, objective, context.device
        self.latent_dim, self.n_classes = latent_dim, n_classes
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            generator, discriminator = networks()
        self.generator = context.wrap(generator.to(self.device))
        self.discriminator = context.wrap(discriminator.to(self.device))
        self.opt_g = build_optimiser(optimiser.name, self.generator.parameters(), optimiser.lr_g, optimiser.betas)
        self.opt_d = build_optimiser(optimiser.name, self.discriminator.parameters(), optimiser.lr_d, optimiser.betas)
        ema = EMASchedule(context.ema_decay, context.ema_start, context.ema_rampup) if context.ema_decay else own_ema
        self.ema = (ExponentialMovingAverage(unwrap(self.generator), ema.decay, ema.start, ema.rampup)
                    if ema is not None else None)
        self.precision = Precision.create(context.precision, self.device.type)

    def _noise(self, n: int, rng: torch.Generator) -> Tensor:
        return torch.randn(n, self.latent_dim, device=self.device, generator=rng)

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        def for_generator(conditions: Batch) -> Batch:
            return {"y": sampled_labels(self.n_classes, conditions["y"], rng)}

        stats = train_step(self.generator, self.discriminator, self.opt_g, self.opt_d, self.objective, next_batch,
                           lambda n: self._noise(n, rng), self.optimiser.k_d_steps, self.ema, rng, self.precision,
                           fake_conditions=for_generator if self.n_classes else None, progress=progress)
        return stats.as_dict()

    def _standing_inputs(self, rng: torch.Generator) -> tuple:
        """One batch of G's inputs for the EMA generator's standing statistics."""
        z = self._noise(STANDING_BATCH, rng)
        if not self.n_classes:
            return (z,)
        return z, {"y": torch.randint(self.n_classes, (STANDING_BATCH,), device=self.device, generator=rng)}

    def sampler(self, name: str | None = None) -> nn.Module:
        return self.ema.sampler(self._standing_inputs) if self.ema is not None else unwrap(self.generator)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": unwrap(self.generator), "discriminator": unwrap(self.discriminator)}

    def state_dict(self) -> dict[str, Any]:
        return {"generator": unwrap(self.generator).state_dict(), "discriminator": unwrap(self.discriminator).state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "ema": self.sampler().state_dict() if self.ema is not None else None,
                "scalers": {name: scaler.state_dict() for name, scaler in self.precision.scalers().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.generator).load_state_dict(state["generator"])
        unwrap(self.discriminator).load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        for name, scaler in self.precision.scalers().items():
            scaler.load_state_dict(state["scalers"][name])

    def use_settings(self, settings: Any) -> None:
        """Adopt ``settings.optimiser`` (PBT's explore step): learning rates and Adam's betas."""
        self.optimiser = settings.optimiser
        self.scale_learning_rates(1.0)
        for optimiser in (self.opt_g, self.opt_d):
            for group in optimiser.param_groups:
                if "betas" in group:
                    group["betas"] = settings.optimiser.betas

    def scale_learning_rates(self, factor: float) -> None:
        for optimiser, lr in ((self.opt_g, self.optimiser.lr_g), (self.opt_d, self.optimiser.lr_d)):
            for group in optimiser.param_groups:
                group["lr"] = lr * factor

    def overflowed(self) -> bool:
        return self.precision.collapsed()


def sampler_weights(state: dict[str, Any]) -> dict[str, Tensor]:
    """G's weights in a :class:`PairRun` state: the EMA's when the run kept one."""
    return state["ema"] if state["ema"] is not None else state["generator"]


def sampler_kind(state: dict[str, Any]) -> str:
    return "EMA" if state["ema"] is not None else "raw"
