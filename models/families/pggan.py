"""The ``pggan`` family: progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation").

* **Growing** (Sec. 2): G and D start at 4×4 and grow together by one block per doubling up to the data's side; each
  new block fades in with α going 0 → 1 over ``families.pggan.fade_images`` real images, then stabilises for
  ``stable_images`` (:mod:`models.growth`; nets :mod:`models.progressive`). The phase and α are a function of the
  real images seen, set on both nets before every step; they are checkpointed (the nets' buffers and the run's
  ``growth`` entry, checked against the schedule on load), so a run stopped mid-fade resumes at the same α.
* D is shown the reals at the current level with the same fade (:func:`models.progressive.shown_reals`).
* **Equalised learning rate** and **pixel norm** in G (Sec. 4, :mod:`models.equalized`); **minibatch standard
  deviation** in D (Sec. 3, :mod:`models.minibatch_stddev`). The gradient penalty is per sample while the minibatch
  stddev mixes each group of 4: the paper combines them so, and so does this family.
* **Objective** (Appendix A.1): WGAN-GP, λ = 10 (``loss.gp_lambda``), plus the drift term ε_drift·E[D(x)²],
  ε_drift = 1e-3 (``families.pggan.drift``, :mod:`models.drift`). As in the reference code the penalty is taken on
  images of the data's size (D pools them down to the level's side), so below the last level its gradient norm is
  2^(L − ℓ) times the one at the level's own side. One D step per G step; Adam(lr 1e-3,
  β = (0, 0.99), ε = 1e-8); Adam's moments reset at every phase boundary (the reference code's
  ``reset_opt_for_new_lod``); an **EMA of G** with decay 0.999 (the reference code's ``G_smoothing``).
* **Sampling**: the EMA of G (the raw G without one) at the phase the run reached; a run stopped before the last
  phase samples at a lower resolution, upsampled (nearest) to the data's side.

The paper's schedule (800k + 800k images per level, 512 channels) is scaled to a CPU run: the defaults, 12,800 images
(200 steps of batch 64) per fade and per stabilisation, reach the data's side after ``levels × 25,600`` images: a
1,500-step run at batch 64 (96,000 images) reaches 8×8 at step 400 and stabilises there for 1,100 steps, 16×16 at
step 800 (700 steps), 32×32 at step 1,200 (300 steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from models.drift import DRIFT, WassersteinDriftLoss
from models.family import (Batch, Curve, DataSpec, Family, FamilyError, Hyperparameters, OptimiserDefaults, Progress,
                           RunContext, Variant, register_family, register_variant)
from models.growth import BASE_SIDE, GrowthSchedule, GrowthState
from models.illustration import Illustration
from models.options import option
from models.pair_run import (PAIR_CURVES, PAIR_STEP_METRICS, EMASchedule, OptimiserSettings, PairRun,
                             resolve_optimiser, sampler_kind, sampler_weights)
from models.progressive import ProgressiveDiscriminator, ProgressiveGenerator, ProgressiveSpec, shown_reals
from models.regularisers import GradientPenalty
from models.step import Objective, unwrap

#: Karras et al. 2018, Appendix A.1: Adam(α = 0.001, β1 = 0, β2 = 0.99, ε = 1e-8), n_critic = 1.
PGGAN_ADAM = OptimiserDefaults(name="adam", lr_g=1.0e-3, lr_d=1.0e-3, betas=(0.0, 0.99), k_d_steps=1)
#: Latents (rows) of the figure of samples at every resolution.
ILLUSTRATION_ROWS = 4


@dataclass(frozen=True)
class PGGANOptions:
    """``families.pggan``: the growing schedule scaled to a CPU run, the drift term, the EMA and the optimiser reset."""

    fade_images: int = option(12_800, low=1, doc="real images over which each new block fades in (Sec. 2; the "
                                                 "paper's 800k scaled to a 1,500-step run)")
    stable_images: int = option(12_800, low=0, doc="real images each level trains alone before the next fades in "
                                                   "(Sec. 2; the paper's 800k scaled to a 1,500-step run)")
    drift: float = option(DRIFT, low=0.0, doc="ε_drift of the critic's drift term ε·E[D(x)²] (Appendix A.1)")
    ema_decay: float | None = option(0.999, low=0.0, high=1.0, open_low=True, open_high=True,
                                     doc="EMA of G's weights (the reference code's G_smoothing); null: the raw G")
    reset_optimisers: bool = option(True, doc="clear Adam's moments at every phase boundary (the reference code's "
                                              "reset_opt_for_new_lod)")


@dataclass(frozen=True)
class PGGANSettings:
    """A ``pggan`` run: the nets, the optimiser, the objective's coefficients, the schedule and the EMA."""

    network: ProgressiveSpec
    optimiser: OptimiserSettings
    gp_lambda: float
    drift: float
    fade_images: int
    stable_images: int
    ema_decay: float | None
    reset_optimisers: bool

    @property
    def schedule(self) -> GrowthSchedule:
        return GrowthSchedule(self.network.levels, self.fade_images, self.stable_images)

    def objective(self) -> Objective:
        """WGAN-GP with the drift term (Appendix A.1)."""
        return Objective(loss=WassersteinDriftLoss(self.drift), regulariser=GradientPenalty(weight=self.gp_lambda))


class GrowingRun(PairRun):
    """A :class:`~models.pair_run.PairRun` whose nets grow by ``schedule``: before every step both nets are set to
    the schedule's state at the images seen, and D's reals are shown at that state; the state of the last step is
    part of the checkpoint."""

    def __init__(self, networks: Callable[[], tuple[nn.Module, nn.Module]], optimiser: OptimiserSettings,
                 objective: Objective, latent_dim: int, context: RunContext, schedule: GrowthSchedule,
                 own_ema: EMASchedule | None, reset_optimisers: bool) -> None:
        super().__init__(networks, optimiser, objective, latent_dim, context, own_ema=own_ema)
        self.schedule, self.reset_optimisers = schedule, reset_optimisers
        self.growth, self.growth_images = schedule.at(0), 0

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        state = self.schedule.at(progress.images)
        if self.reset_optimisers and state.phase != self.growth.phase:
            for optimiser in (self.opt_g, self.opt_d):
                optimiser.state.clear()
        self._grow(state, progress.images)

        def shown_batch() -> Batch:
            batch = next_batch()
            return {**batch, "x": shown_reals(batch["x"], self.schedule.levels, state)}

        stats = super().step(shown_batch, rng, progress)
        return {**stats, "resolution": float(state.side), "alpha": state.alpha}

    def _grow(self, state: GrowthState, images: int) -> None:
        for network in (self.generator, self.discriminator):
            unwrap(network).set_growth(state)
        self.growth, self.growth_images = state, images

    def state_dict(self) -> dict[str, Any]:
        growth = {"images": self.growth_images, "phase": self.growth.phase, "level": self.growth.level,
                  "alpha": self.growth.alpha}
        return {**super().state_dict(), "growth": growth}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        growth = state["growth"]
        stored = GrowthState(int(growth["phase"]), int(growth["level"]), float(growth["alpha"]))
        expected = self.schedule.at(int(growth["images"]))
        if stored != expected:
            raise ValueError(f"the checkpoint's growth {stored} after {growth['images']} images disagrees with the "
                             f"schedule's {expected}: resume with the families.pggan schedule it was trained with")
        self._grow(expected, int(growth["images"]))


class PGGANFamily(Family):
    name = "pggan"
    task = "unconditional"
    reference = "Karras et al. 2018"
    settings = PGGANSettings
    options = PGGANOptions
    step_metrics = {**PAIR_STEP_METRICS, "resolution": "pggan/resolution", "alpha": "pggan/alpha"}
    curves = (*PAIR_CURVES,
              Curve(("resolution",), "Side G and D train at (the growing phases)", "side (pixels)"),
              Curve(("alpha",), "Fade-in weight α of the newest block", "α"))
    reads = ("model.z_dim", "model.width", "loss.gp_lambda", "train.optimiser", "train.lr_g",
             "train.lr_d", "train.betas", "train.k_d_steps")

    def spec(self, hyper: Hyperparameters, data: DataSpec) -> ProgressiveSpec:
        if data.kind != "images":
            raise FamilyError(f"family {self.name} grows image nets and needs images, got {data.kind} of shape "
                              f"{tuple(data.shape)}")
        try:
            return ProgressiveSpec(tuple(data.shape), hyper.network.z_dim, hyper.network.width)
        except ValueError as err:
            raise FamilyError(f"family {self.name}: {err}") from None

    def check_data(self, data: DataSpec) -> None:
        super().check_data(data)
        self.spec(Hyperparameters(), data)

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> PGGANSettings:
        if hyper.loss.regulariser not in ("auto", GradientPenalty.name):
            raise FamilyError(f"loss.regulariser: family {self.name} trains WGAN-GP with the drift term (Karras et "
                              f"al. 2018, Appendix A.1), not {hyper.loss.regulariser}; leave loss.regulariser: auto")
        options = hyper.options or PGGANOptions()
        return PGGANSettings(network=self.spec(hyper, data), optimiser=resolve_optimiser(variant.optimiser,
                             hyper.optimiser), gp_lambda=hyper.loss.gp_lambda, drift=options.drift,
                             fade_images=options.fade_images, stable_images=options.stable_images,
                             ema_decay=options.ema_decay, reset_optimisers=options.reset_optimisers)

    def create(self, settings: PGGANSettings, data: DataSpec, context: RunContext) -> GrowingRun:
        spec = settings.network
        own_ema = EMASchedule(settings.ema_decay) if settings.ema_decay else None
        return GrowingRun(lambda: (ProgressiveGenerator(spec), ProgressiveDiscriminator(spec)), settings.optimiser,
                          settings.objective(), spec.z_dim, context, settings.schedule, own_ema,
                          settings.reset_optimisers)

    def build_sampler(self, settings: PGGANSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        """G; its weights (:meth:`sampler_weights`) carry the level and α the run reached, and its images are
        upsampled (nearest) to the data's side when that level is below the data's."""
        return ProgressiveGenerator(settings.network)

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return sampler_weights(state)

    def sampler_kind(self, state: dict[str, Any]) -> str:
        return sampler_kind(state)

    def latent_dim(self, settings: PGGANSettings) -> int:
        return settings.network.z_dim

    def illustrations(self, sampler: nn.Module, latent_dim: int, data: DataSpec,
                      rng: torch.Generator) -> tuple[Illustration, ...]:
        """Samples at every resolution grown so far: one row per latent, one column per level from 4×4 to the level
        the run reached, each that level's to-RGB alone (α = 1), upsampled (nearest) to the data's side."""
        device = next(sampler.parameters()).device
        z = torch.randn(ILLUSTRATION_ROWS, latent_dim, generator=rng).to(device)
        images = torch.stack(sampler.images_by_level(z), dim=1).cpu()
        sides = [BASE_SIDE * 2 ** level for level in range(images.shape[1])]
        return (Illustration("resolutions", "Samples at every resolution grown (each level's to-RGB alone, α = 1)",
                             images,
                             row_labels=tuple(f"z{row + 1}" for row in range(ILLUSTRATION_ROWS)),
                             column_labels=tuple(f"{side}×{side}" for side in sides)),)


register_family(PGGANFamily())
register_variant(Variant("pggan", "pggan", WassersteinDriftLoss, regulariser="gradient-penalty", optimiser=PGGAN_ADAM,
                         reference="Karras et al. 2018, Appendix A.1"))
