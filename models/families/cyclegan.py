"""The ``cyclegan`` family: CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks"), task ``unpaired-translation``.

Domain A is the data's ``source``, domain B its ``x``, drawn independently. Two translators, G: A → B and F: B → A
(:class:`models.cyclegan_networks.ResnetGenerator`, Appendix 7.2), and two 70×70-style PatchGAN discriminators with
instance norm (:class:`models.patchgan.PatchDiscriminator`, Sec. 4), D_B on B and D_A on A. The objective (Eq. 3
with the least-squares loss of Sec. 4, :class:`models.losses.LeastSquaresLoss` with targets 0/1):

* G and F minimise ``E[(D_B(G(a)) − 1)²] + E[(D_A(F(b)) − 1)²] + λ L_cyc + μλ L_identity`` with
  ``L_cyc = E‖F(G(a)) − a‖₁ + E‖G(F(b)) − b‖₁`` (Eq. 2), λ = ``families.cyclegan.cycle_weight`` (10, Sec. 4) and
  ``L_identity = E‖G(b) − b‖₁ + E‖F(a) − a‖₁`` (Sec. 5.2) at μ = ``families.cyclegan.identity_factor`` (0.5: the
  authors' ``lambda_identity``; it compares a translator's output with its input, so it needs domains of one
  shape; 0: none). The adversarial terms are twice ``LeastSquaresLoss.g_loss``, which carries Mao et al.'s ½.
* D_B minimises ``½ E[(D_B(b) − 1)²] + ½ E[D_B(b̃)²]`` and D_A the same on A -- the paper's objective "divided by 2
  while optimizing D" (Sec. 4), which is ``LeastSquaresLoss.d_loss`` as it stands -- where b̃ (ã) are drawn from an
  :class:`models.image_pool.ImagePool` of ``families.cyclegan.pool_size`` (50) images G (F) generated at this and
  earlier steps (Sec. 4, after Shrivastava et al. 2017). The pools draw from the step's ``rng`` and are part of the
  checkpoint (every worker's own pool), so a resumed run is exact.

As the authors' ``CycleGANModel.optimize_parameters`` (junyanz/pytorch-CycleGAN-and-pix2pix): one Adam(2e-4,
β = (0.5, 0.999)) for G and F together, one for D_A and D_B together, both at one rate; each step translates one
batch of each domain, updates G and F first (the discriminators frozen), then the discriminators on the same
translations. The paper's linear decay of the rate to 0 over the second half of training is ``train.lr_decay:
linear`` with ``train.lr_decay_start: 0.5``. Weights from N(0, 0.02). Mixed precision and an EMA of G are not the
paper's and are refused.

Samplers, named as the authors' ``--direction``: ``AtoB`` (G, the main one) and ``BtoA`` (F, reversed: scored on the
data with its domains swapped; A → B → A gives the cycle error). The identity baseline is not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.cyclegan_networks import SMALLEST_SIDE, ResnetGenerator, auto_residual_blocks, downsamplings
from models.family import (DCGAN_ADAM, Batch, Curve, DataSpec, FamilyError, Hyperparameters, Progress, RunContext,
                           SamplerSpec, Variant, register_family, register_variant)
from models.image_pool import POOL_SIZE, ImagePool
from models.losses import LeastSquaresLoss
from models.options import option
from models.patchgan import PatchDiscriminator
from models.scheduled_run import ScheduledRun
from models.translation import AdamSettings, TranslatorFamily, adam_settings, floats, frozen, update

#: G's least-squares term of Sec. 4, ``E[(D(G(x)) − 1)²]``, over ``LeastSquaresLoss.g_loss`` (``½ E[(D(G(x)) − 1)²]``).
GENERATOR_LOSS_SCALE = 2.0


@dataclass(frozen=True)
class CycleGANOptions:
    """``families.cyclegan``: the paper's defaults."""

    cycle_weight: float = option(10.0, low=0.0, doc="λ of the cycle-consistency loss (Zhu et al. 2017, Eq. 3, Sec. 4)")
    identity_factor: float = option(0.5, low=0.0, doc="identity loss weight over λ (Sec. 5.2, the authors' "
                                    "lambda_identity); 0: none; needs domains of one shape")
    pool_size: int = option(POOL_SIZE, low=0, doc="past generated images each D is shown from (Sec. 4); 0: none")
    residual_blocks: int | None = option(None, low=0, doc="G's residual blocks; null: ceil(6 · side / 128) below "
                                         "128 px (the paper's 6 at 128×128, Appendix 7.2)")


@dataclass(frozen=True)
class CycleGANSettings:
    """A ``cyclegan`` run: the translators' size, the loss weights, the pools and the one Adam setting."""

    width: int
    residual_blocks: int
    cycle_weight: float
    identity_weight: float
    pool_size: int
    adam: AdamSettings


def build_translator(settings: CycleGANSettings, data: DataSpec, reverse: bool) -> ResnetGenerator:
    """G (A → B), or F (B → A) when ``reverse``."""
    source, target = (data.shape, data.source_shape) if reverse else (data.source_shape, data.shape)
    return ResnetGenerator(source[0], target[0], min(source[1:]), settings.width, settings.residual_blocks)


def build_discriminator(settings: CycleGANSettings, shape: tuple[int, ...]) -> PatchDiscriminator:
    """The PatchGAN of Sec. 4 with instance norm on images of ``shape``."""
    return PatchDiscriminator(shape[0], shape[-1], settings.width, norm="instance")


def cycle_loss(a: Tensor, back_a: Tensor, b: Tensor, back_b: Tensor) -> Tensor:
    """``L_cyc`` of Eq. 2: ``E‖F(G(a)) − a‖₁ + E‖G(F(b)) − b‖₁``, each the mean over pixels and the batch."""
    return F.l1_loss(back_a, a) + F.l1_loss(back_b, b)


def identity_loss(a: Tensor, f_of_a: Tensor, b: Tensor, g_of_b: Tensor) -> Tensor:
    """``L_identity`` of Sec. 5.2: ``E‖G(b) − b‖₁ + E‖F(a) − a‖₁``."""
    return F.l1_loss(g_of_b, b) + F.l1_loss(f_of_a, a)


def every_worker(state: Any) -> list[Any]:
    """Every DDP worker's ``state`` in rank order (one collective); ``[state]`` without a process group."""
    if not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return [state]
    gathered: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, state)
    return gathered


def worker_rank() -> int:
    """This worker's rank in the process group (0 without one)."""
    initialised = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_rank() if initialised else 0


class CycleGANRun(ScheduledRun):
    """G, F, D_B, D_A, their two Adams and the two image pools; see the module docstring."""

    def __init__(self, settings: CycleGANSettings, data: DataSpec, context: RunContext) -> None:
        if context.ema_decay is not None or context.precision != "fp32":
            raise FamilyError("family cyclegan trains in fp32 and samples its translators as trained (the paper has "
                              "no EMA): leave train.ema_decay null and train.precision fp32")
        self.settings = settings
        super().__init__(lambda: {"g_ab": build_translator(settings, data, reverse=False),
                                  "g_ba": build_translator(settings, data, reverse=True),
                                  "d_b": build_discriminator(settings, data.shape),
                                  "d_a": build_discriminator(settings, data.source_shape)},
                         {"generators": ("g_ab", "g_ba"), "discriminators": ("d_b", "d_a")}, settings.adam,
                         CycleGANFamily.sampler_networks, context)
        self.loss = LeastSquaresLoss()
        self.pools = {domain: ImagePool(settings.pool_size, context.device) for domain in ("a", "b")}

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        batch = next_batch()
        a, b = batch["source"], batch["x"]
        g_ab, g_ba, d_b, d_a = (self.nets[name] for name in ("g_ab", "g_ba", "d_b", "d_a"))
        fake_b, fake_a = g_ab(a), g_ba(b)
        with frozen(d_b, d_a) as (bare_b, bare_a):
            adversarial = GENERATOR_LOSS_SCALE * (self.loss.g_loss(bare_b(fake_b)) + self.loss.g_loss(bare_a(fake_a)))
            cycle = cycle_loss(a, g_ba(fake_b), b, g_ab(fake_a))
            loss_g = adversarial + self.settings.cycle_weight * cycle
            identity = torch.zeros((), device=a.device)
            if self.settings.identity_weight > 0:
                identity = identity_loss(a, g_ba(a), b, g_ab(b))
                loss_g = loss_g + self.settings.identity_weight * identity
            update(loss_g, self.optimisers["generators"])
        shown_b, shown_a = self.pools["b"].query(fake_b, rng), self.pools["a"].query(fake_a, rng)
        real_b, judged_b, real_a, judged_a = d_b(b), d_b(shown_b), d_a(a), d_a(shown_a)
        loss_d = self.loss.d_loss(real_b, judged_b) + self.loss.d_loss(real_a, judged_a)
        update(loss_d, self.optimisers["discriminators"])
        return floats({"loss_d": loss_d, "loss_g": adversarial, "cycle": cycle, "identity": identity,
                       "d_real": (real_b.mean() + real_a.mean()) / 2,
                       "d_fake": (judged_b.mean() + judged_a.mean()) / 2})

    def state_dict(self) -> dict[str, Any]:
        """The networks and optimisers, and every worker's pools (a collective under DDP, as the loop's RNG states)."""
        pools = {domain: pool.state_dict() for domain, pool in self.pools.items()}
        return {**super().state_dict(), "pools": every_worker(pools)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for domain, pool_state in state["pools"][worker_rank()].items():
            self.pools[domain].load_state_dict(pool_state)

    def use_settings(self, settings: CycleGANSettings) -> None:
        self.settings = settings
        super().use_settings(settings)


#: Step statistic → MLflow metric name.
STEP_METRICS = {"loss_d": "loss/d", "loss_g": "loss/g", "cycle": "loss/cycle", "identity": "loss/identity",
                "d_real": "d/real", "d_fake": "d/fake"}


class CycleGANFamily(TranslatorFamily):
    name = "cyclegan"
    task = "unpaired-translation"
    reference = "Zhu et al. 2017 (CycleGAN), Eq. 3 with the least-squares loss, Sec. 4 and Appendix 7.2"
    settings = CycleGANSettings
    options = CycleGANOptions
    samplers = (SamplerSpec("AtoB", "A→B"), SamplerSpec("BtoA", "B→A", reverse=True))
    sampler_networks = {"AtoB": "g_ab", "BtoA": "g_ba"}
    step_metrics = STEP_METRICS
    curves = (
        Curve(("loss_d",), "Discriminators' loss (least squares, halved; both domains)", "L_D"),
        Curve(("loss_g",), "Translators' adversarial loss (both directions)", "L_G"),
        Curve(("cycle", "identity"), "Cycle-consistency and identity L1 (both directions)", "L1"),
        Curve(("d_real", "d_fake"), "D on real and on pooled translated images", "mean D"),
    )
    reads = ("model.width", "train.lr_g", "train.betas")

    def check_data(self, data: DataSpec) -> None:
        """The task's rules, and square images of one side in both domains that the networks take."""
        super().check_data(data)
        shapes = (tuple(data.shape), tuple(data.source_shape))
        if data.kind != "images" or any(len(shape) != 3 or shape[1] != shape[2] for shape in shapes) \
                or shapes[0][1:] != shapes[1][1:] or not self._side_fits(shapes[0][1]):
            raise FamilyError(f"family {self.name} translates square images of one side in both domains, at least "
                              f"{SMALLEST_SIDE} px, even, and a multiple of 4 from 16 px (its generator's "
                              f"downsamplings), got A {shapes[1]} and B {shapes[0]}")

    @staticmethod
    def _side_fits(side: int) -> bool:
        return side >= SMALLEST_SIDE and side % 2 ** downsamplings(side) == 0

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> CycleGANSettings:
        options = hyper.options or CycleGANOptions()
        chosen = hyper.optimiser
        if options.identity_factor > 0 and tuple(data.source_shape) != tuple(data.shape):
            raise FamilyError(f"families.{self.name}.identity_factor {options.identity_factor} compares each "
                              f"translator's output with its input, which needs domains of one shape; A is "
                              f"{tuple(data.source_shape)}, B {tuple(data.shape)}: set it to 0")
        if chosen.k_d_steps not in (None, 1):
            raise FamilyError(f"train.k_d_steps {chosen.k_d_steps}: family {self.name} takes one D update per G "
                              "update, as the authors' code; leave train.k_d_steps null")
        if chosen.name not in (None, "adam"):
            raise FamilyError(f"train.optimiser {chosen.name}: family {self.name} trains with Adam (Sec. 4); "
                              "leave train.optimiser null")
        if chosen.lr_d is not None and chosen.lr_d != chosen.lr_g:
            raise FamilyError(f"train.lr_d {chosen.lr_d}: family {self.name} trains G and D at one rate (Sec. 4), "
                              "train.lr_g; leave train.lr_d null")
        blocks = options.residual_blocks
        return CycleGANSettings(width=hyper.network.width,
                                residual_blocks=auto_residual_blocks(data.shape[-1]) if blocks is None else blocks,
                                cycle_weight=options.cycle_weight,
                                identity_weight=options.identity_factor * options.cycle_weight,
                                pool_size=options.pool_size, adam=adam_settings(variant, hyper))

    def create(self, settings: CycleGANSettings, data: DataSpec, context: RunContext) -> CycleGANRun:
        return CycleGANRun(settings, data, context)

    def build_sampler(self, settings: CycleGANSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return build_translator(settings, data, reverse=name == "BtoA")


register_family(CycleGANFamily())
register_variant(Variant("cyclegan", "cyclegan", LeastSquaresLoss, optimiser=DCGAN_ADAM,
                         reference=CycleGANFamily.reference))
