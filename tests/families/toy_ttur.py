"""A family with options of its own (``toy-ttur``): the class-conditional toy (``toy_conditional.py``) whose
discriminator learns at ``families.toy-ttur.d_lr_factor`` × G's learning rate -- the two time-scale update
rule of Heusel et al. (2017) as one option. Registered by the tests that import it; what it tests is that a
family's options reach its settings through params and through a search (``tune.space``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from models.family import DataSpec, FAMILIES, Hyperparameters, RunContext, Variant, register_family, register_variant
from models.losses import NonSaturatingLoss
from models.options import option
from tests.families.toy_conditional import ToyConditionalFamily, ToyRun, ToySettings


@dataclass(frozen=True)
class TTUROptions:
    d_lr_factor: float = option(1.0, low=0.0, open_low=True, doc="D's learning rate over G's (Heusel et al. 2017)")


@dataclass(frozen=True)
class TTURSettings(ToySettings):
    lr_d: float = 2.0e-4


class TTURRun(ToyRun):
    """The toy's run with D's optimiser at ``settings.lr_d``."""

    def __init__(self, settings: TTURSettings, context: RunContext) -> None:
        super().__init__(settings, context)
        self.use_settings(settings)

    def use_settings(self, settings: TTURSettings) -> None:
        for optimiser, lr in ((self.opt_g, settings.lr), (self.opt_d, settings.lr_d)):
            for group in optimiser.param_groups:
                group["lr"] = lr


class ToyTTURFamily(ToyConditionalFamily):
    name = "toy-ttur"
    reference = "Heusel et al. 2017 (two time-scale update rule) on Mirza & Osindero 2014"
    settings = TTURSettings
    options = TTUROptions

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> TTURSettings:
        toy = super().resolve(variant, hyper, data, world_size)
        factor = (hyper.options or TTUROptions()).d_lr_factor
        return TTURSettings(**dataclasses.asdict(toy), lr_d=toy.lr * factor)

    def create(self, settings: TTURSettings, data: DataSpec, context: RunContext) -> TTURRun:
        return TTURRun(settings, context)


if ToyTTURFamily.name not in FAMILIES:
    register_family(ToyTTURFamily())
    register_variant(Variant("toy-ttur", "toy-ttur", NonSaturatingLoss, reference=ToyTTURFamily.reference))
