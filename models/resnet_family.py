"""The families on the residual G/D pair of :mod:`models.resnet` -- ``sngan``, ``projection``, ``biggan`` -- differ
in how G and D take the labels, where spectral normalisation goes and their paper's recipe; everything else is here.

Their settings are the pair's spec (``model.z_dim``; ``model.width`` channels in G and D, the papers' 128-256 scaled
down for a CPU), the optimiser (the variant's paper default, overridable by ``train.*``) and the loss and the
regulariser (``loss.*``). They train through :class:`models.pair_run.PairRun`: k D steps, then one G step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from models.family import DataSpec, Family, FamilyError, Hyperparameters, RunContext, Variant
from models.pair_run import (PAIR_CURVES, PAIR_STEP_METRICS, EMASchedule, ObjectiveSettings, OptimiserSettings,
                             PairRun, resolve_objective, resolve_optimiser, sampler_kind, sampler_weights)
from models.resnet import ResNetDiscriminator, ResNetGenerator, ResNetSpec
from models.step import Objective

#: The shared params a residual family reads (``model.arch``, ``depth`` and ``norm`` are ``gan``'s alone).
RESNET_READS = ("model.z_dim", "model.width", "loss.regulariser", "loss.wgan_clip", "loss.gp_lambda",
                "loss.lsgan_targets", "train.optimiser", "train.lr_g", "train.lr_d", "train.betas", "train.k_d_steps")


@dataclass(frozen=True)
class ResNetSettings(ObjectiveSettings):
    """One resolved run of a residual family: the pair's spec, the optimiser, the loss and the regulariser."""

    network: ResNetSpec
    optimiser: OptimiserSettings


class ResNetFamily(Family):
    """The residual pair with the class attributes below; see the module docstring."""

    settings = ResNetSettings
    step_metrics = PAIR_STEP_METRICS
    curves = PAIR_CURVES
    reads = RESNET_READS
    #: G's batch normalisation (:data:`models.resnet.G_NORMS`), D's projection, spectral norm in G, initialisation.
    g_norm: ClassVar[str] = "plain"
    projection: ClassVar[bool] = False
    g_spectral: ClassVar[bool] = False
    init: ClassVar[str] = "xavier"

    def spec(self, hyper: Hyperparameters, data: DataSpec) -> ResNetSpec:
        labels = data.n_classes if self.task == "class-conditional" else 0
        try:
            return ResNetSpec(data_shape=tuple(data.shape), z_dim=hyper.network.z_dim, g_width=hyper.network.width,
                              d_width=hyper.network.width, n_classes=labels, g_norm=self.g_norm,
                              projection=self.projection, g_spectral=self.g_spectral, init=self.init)
        except ValueError as err:
            raise FamilyError(f"family {self.name}: {err}") from None

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> ResNetSettings:
        return ResNetSettings(network=self.spec(hyper, data), optimiser=resolve_optimiser(variant.optimiser,
                              hyper.optimiser), **resolve_objective(variant, hyper))

    def objective(self, settings: ResNetSettings) -> Objective:
        return settings.objective()

    def own_ema(self, settings: ResNetSettings) -> EMASchedule | None:
        """The family's paper EMA of G, used when ``train.ema_decay`` is null."""
        return None

    def create(self, settings: ResNetSettings, data: DataSpec, context: RunContext) -> PairRun:
        spec = settings.network
        return PairRun(lambda: (ResNetGenerator(spec), ResNetDiscriminator(spec)), settings.optimiser,
                       self.objective(settings), spec.latent_dim, context, spec.n_classes, self.own_ema(settings))

    def build_sampler(self, settings: ResNetSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return ResNetGenerator(settings.network)

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return sampler_weights(state)

    def sampler_kind(self, state: dict[str, Any]) -> str:
        return sampler_kind(state)

    def latent_dim(self, settings: ResNetSettings) -> int:
        return settings.network.latent_dim
