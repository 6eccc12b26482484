"""An unpaired-translation toy (``toy-cycle``): CycleGAN of Zhu et al. (2017) with MLPs.

Two translators, G: A → B and F: B → A (A: the data's ``source`` domain, B: its ``x``), and two discriminators,
D_B on B and D_A on A, the domains drawn independently. The objective, Eq. 3, with the least-squares loss (Sec. 4,
``models.losses.LeastSquaresLoss``: targets 0/1 and Mao et al.'s ½):

* D_B minimises ``½ E[(D_B(b) - 1)²] + ½ E[D_B(G(a))²]``, D_A the same on A -- the paper's halved D objective;
* G and F minimise ``½ E[(D_B(G(a)) - 1)²] + ½ E[(D_A(F(b)) - 1)²] + λ L_cyc + μ λ L_identity`` with
  ``L_cyc = E‖F(G(a)) - a‖₁ + E‖G(F(b)) - b‖₁`` (Eq. 2), ``λ = families.toy-cycle.cycle_weight`` (10) and
  ``L_identity = E‖G(b) - b‖₁ + E‖F(a) - a‖₁`` (Sec. 5.2) at ``μ = families.toy-cycle.identity_factor`` (0.5; 0:
  none; it needs domains of one shape).

One Adam(2e-4, β = (0.5, 0.999)) for G and F, one for both discriminators, G's update first, as the authors'
implementation; the history pool of generated images (Shrivastava et al. 2017) is left out. Two samplers, named as
that implementation's ``--direction``: ``AtoB`` (G, the main one) and ``BtoA`` (F, reversed: evaluated on the data
with its domains swapped). Registered by the tests that import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from models.family import (Batch, DataSpec, FAMILIES, FamilyError, Hyperparameters, Progress, RunContext, SamplerSpec,
                           Variant, register_family, register_variant)
from models.losses import LeastSquaresLoss
from models.options import option
from models.translation import (AdamSettings, NamedNetworksRun, TranslatorFamily, adam_settings, floats, frozen,
                                update)
from tests.families.toy_parts import TOY_READS, ToyMLP


@dataclass(frozen=True)
class CycleOptions:
    cycle_weight: float = option(10.0, low=0.0, doc="λ of the cycle-consistency loss (Zhu et al. 2017, Eq. 3)")
    identity_factor: float = option(0.5, low=0.0, doc="identity loss weight over λ (Zhu et al. 2017, Sec. 5.2); 0: none")


@dataclass(frozen=True)
class CycleSettings:
    width: int
    cycle_weight: float
    identity_weight: float
    adam: AdamSettings


def translator(settings: CycleSettings, data: DataSpec, reverse: bool) -> ToyMLP:
    """G (A → B), or F (B → A) when ``reverse``."""
    source, target = (data.shape, data.source_shape) if reverse else (data.source_shape, data.shape)
    return ToyMLP(math.prod(source), target, settings.width, squash=True)


class CycleRun(NamedNetworksRun):
    def __init__(self, settings: CycleSettings, data: DataSpec, context: RunContext) -> None:
        self.settings = settings
        super().__init__(lambda: {"g_ab": translator(settings, data, False), "g_ba": translator(settings, data, True),
                                  "d_b": ToyMLP(math.prod(data.shape), (), settings.width),
                                  "d_a": ToyMLP(math.prod(data.source_shape), (), settings.width)},
                         {"generators": ("g_ab", "g_ba"), "discriminators": ("d_b", "d_a")}, settings.adam,
                         ToyCycleFamily.sampler_networks, context)
        self.loss = LeastSquaresLoss()

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        batch = next_batch()
        a, b = batch["source"], batch["x"]
        g_ab, g_ba, d_b, d_a = (self.nets[name] for name in ("g_ab", "g_ba", "d_b", "d_a"))
        fake_b, fake_a = g_ab(a), g_ba(b)
        with frozen(d_b, d_a) as (bare_b, bare_a):
            adversarial = self.loss.g_loss(bare_b(fake_b)) + self.loss.g_loss(bare_a(fake_a))
            cycle = F.l1_loss(g_ba(fake_b), a) + F.l1_loss(g_ab(fake_a), b)
            loss_g = adversarial + self.settings.cycle_weight * cycle
            identity = torch.zeros((), device=a.device)
            if self.settings.identity_weight > 0:
                identity = F.l1_loss(g_ab(b), b) + F.l1_loss(g_ba(a), a)
                loss_g = loss_g + self.settings.identity_weight * identity
            update(loss_g, self.optimisers["generators"])
        loss_d = (self.loss.d_loss(d_b(b), d_b(fake_b.detach())) + self.loss.d_loss(d_a(a), d_a(fake_a.detach())))
        update(loss_d, self.optimisers["discriminators"])
        return floats({"loss_d": loss_d, "loss_g": adversarial, "cycle": cycle, "identity": identity})


class ToyCycleFamily(TranslatorFamily):
    name = "toy-cycle"
    task = "unpaired-translation"
    reference = "Zhu et al. 2017 (CycleGAN), Eq. 3, least-squares loss"
    settings = CycleSettings
    options = CycleOptions
    samplers = (SamplerSpec("AtoB", "A→B"), SamplerSpec("BtoA", "B→A", reverse=True))
    sampler_networks = {"AtoB": "g_ab", "BtoA": "g_ba"}
    step_metrics = {"loss_d": "loss/d", "loss_g": "loss/g", "cycle": "loss/cycle", "identity": "loss/identity"}
    reads = TOY_READS

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> CycleSettings:
        options = hyper.options or CycleOptions()
        if options.identity_factor > 0 and data.source_shape != data.shape:
            raise FamilyError(f"families.{self.name}.identity_factor {options.identity_factor} compares each "
                              f"translator's output with its input, which needs domains of one shape; A is "
                              f"{data.source_shape}, B {data.shape}: set it to 0")
        return CycleSettings(width=hyper.network.width, cycle_weight=options.cycle_weight,
                             identity_weight=options.identity_factor * options.cycle_weight,
                             adam=adam_settings(variant, hyper))

    def create(self, settings: CycleSettings, data: DataSpec, context: RunContext) -> CycleRun:
        return CycleRun(settings, data, context)

    def build_sampler(self, settings: CycleSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return translator(settings, data, reverse=name == "BtoA")


if ToyCycleFamily.name not in FAMILIES:
    register_family(ToyCycleFamily())
    register_variant(Variant("toy-cycle", "toy-cycle", LeastSquaresLoss, reference=ToyCycleFamily.reference))
