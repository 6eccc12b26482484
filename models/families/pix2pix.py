"""The ``pix2pix`` family: paired image-to-image translation with a conditional GAN (Isola et al. 2017, "Image-to-Image
Translation with Conditional Adversarial Networks"). Networks: :mod:`models.unet` (G) and :mod:`models.patchgan` (D).

* **G** is the U-Net (Sec. 3.2.1) from the input image ``source`` to ``x``'s domain; its noise is dropout 0.5 in the
  first decoder layers (Sec. 3.1), masks drawn from the step's RNG (a resumed run draws the same), no z
  (latent_dim 0).
* **D** is the N×N PatchGAN (Sec. 3.2.2) on the pair (source, image) concatenated along the channels (Sec. 2.1, the
  authors' ``torch.cat((real_A, fake_B), 1)``), one logit per patch; its losses average over the patches.
* **Objective** (Eq. 4): ``G* = arg min_G max_D L_cGAN(G, D) + λ L_L1(G)``, ``L_L1 = E‖x − G(s)‖₁``, λ =
  ``families.pix2pix.l1_weight`` (100, Sec. 4 and the authors' ``--lambda_L1``). G takes the non-saturating loss
  ``−E log D(s, G(s))``; D minimises ``½[−E log D(s, x) − E log(1 − D(s, G(s)))]`` (Sec. 3.3: "we divide the
  objective by 2 while optimizing D"). One D update, then one G update on the same generated batch
  (:func:`models.translation.supervised_step`), Adam(2e-4, β = (0.5, 0.999)) for both (Sec. 3.3); the paper has
  no decay, ``train.lr_decay: linear`` gives the authors' code's (:mod:`models.scheduled_run`).
* **pix2pix-l1** is Table 1's "L1" row: the same U-Net trained on ``L_L1`` alone, same optimiser; no D is built or
  trained. λ has no meaning there (one term; Adam's steps do not depend on the loss's scale), so the variant's
  settings leave ``l1_weight`` out (None) and changing it retrains no L1 run.

**Evaluation** samples G in eval mode: no dropout, BatchNorm with its running statistics, so a sample is a
deterministic function of the source. The paper runs G at test time as in training, with dropout and the test
batch's statistics (Sec. 3.3), and observes "only minor stochasticity" from the dropout (Sec. 3.1); the house
scores a translator as a function (L1, PSNR, SSIM to the target) whose output must not depend on which other
sources share its batch, and its sampling draws no noise where latent_dim is 0. Sizes: ``model.width`` is the
first layer's channels of G and D (the paper's 64); CPU runs take small widths. Square images of a power-of-two side
of at least 8; ``source`` and ``x`` may have different channel counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.family import (DCGAN_ADAM, Batch, Curve, DataSpec, FamilyError, Hyperparameters, Progress, RunContext,
                           Variant, register_family, register_variant)
from models.losses import NonSaturatingLoss
from models.options import option
from models.patchgan import PatchDiscriminator
from models.scheduled_run import ScheduledRun
from models.translation import (AdamSettings, SupervisedObjective, TranslatorFamily, adam_settings, floats,
                                supervised_step, update)
from models.unet import UNetGenerator

#: The variant of Table 1's "L1" row: G on L_L1 alone, no D.
L1_VARIANT = "pix2pix-l1"
#: The smallest side the U-Net (three levels) and the PatchGAN (a 2×2 grid of logits) take here.
MIN_SIDE = 8


@dataclass(frozen=True)
class Pix2PixOptions:
    """``families.pix2pix``: the paper's defaults."""

    l1_weight: float = option(100.0, low=0.0, doc="λ of Eq. 4's L1 term (Sec. 4; the authors' --lambda_L1); "
                              "pix2pix-l1 trains on L1 alone and ignores it")


@dataclass(frozen=True)
class Pix2PixSettings:
    """A ``pix2pix`` run: the networks' first-layer width, λ (None: ``pix2pix-l1``, L1 alone, no D) and Adam."""

    width: int
    l1_weight: float | None
    adam: AdamSettings


class PairDiscriminator(nn.Module):
    """D(image, {"source": s}): the PatchGAN's logits on s and the image concatenated along the channels."""

    def __init__(self, data: DataSpec, width: int) -> None:
        super().__init__()
        self.patches = PatchDiscriminator(data.source_shape[0] + data.shape[0], data.shape[-1], width, norm="batch")

    def forward(self, image: Tensor, conditions: Batch) -> Tensor:
        return self.patches(torch.cat([conditions["source"], image], dim=1))


def build_generator(settings: Pix2PixSettings, data: DataSpec) -> UNetGenerator:
    return UNetGenerator(data.source_shape[0], data.shape[0], data.shape[-1], settings.width)


def pix2pix_objective(l1_weight: float) -> SupervisedObjective:
    """Eq. 4: the non-saturating cGAN loss on (source, image) pairs, λ · L1, D's objective halved."""
    return SupervisedObjective(NonSaturatingLoss(), F.l1_loss, content_weight=l1_weight, d_scale=0.5, pairs=True)


class Pix2PixRun(ScheduledRun):
    """G and D, one Adam each; a step is :func:`models.translation.supervised_step` on Eq. 4."""

    def __init__(self, settings: Pix2PixSettings, data: DataSpec, context: RunContext) -> None:
        super().__init__(lambda: {"generator": build_generator(settings, data),
                                  "discriminator": PairDiscriminator(data, settings.width)},
                         {"generator": ("generator",), "discriminator": ("discriminator",)}, settings.adam,
                         Pix2PixFamily.sampler_networks, context)
        self.objective = pix2pix_objective(settings.l1_weight)

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        batch = next_batch()
        return supervised_step(self, self.objective, batch["source"], batch["x"], noise=rng)


class L1Run(ScheduledRun):
    """``pix2pix-l1``: G alone and its Adam; a step is one update on ``‖x − G(s)‖₁`` (dropout as in pix2pix)."""

    def __init__(self, settings: Pix2PixSettings, data: DataSpec, context: RunContext) -> None:
        super().__init__(lambda: {"generator": build_generator(settings, data)}, {"generator": ("generator",)},
                         settings.adam, Pix2PixFamily.sampler_networks, context)

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        batch = next_batch()
        content = F.l1_loss(self.nets["generator"](batch["source"], noise=rng), batch["x"])
        update(content, self.optimisers["generator"])
        return floats({"content": content})


#: Step statistic → MLflow metric name.
STEP_METRICS = {"loss_d": "loss/d", "loss_g": "loss/g", "content": "loss/l1", "d_real": "d/real", "d_fake": "d/fake"}


class Pix2PixFamily(TranslatorFamily):
    name = "pix2pix"
    task = "paired-translation"
    reference = "Isola et al. 2017 (pix2pix), Eq. 4"
    settings = Pix2PixSettings
    options = Pix2PixOptions
    sampler_networks = {"generator": "generator"}
    step_metrics = STEP_METRICS
    curves = (
        Curve(("loss_d",), "Discriminator loss (halved, Sec. 3.3)", "L_D / 2"),
        Curve(("loss_g",), "Generator's adversarial loss", "L_G"),
        Curve(("content",), "L1 to the target", "L1"),
        Curve(("d_real", "d_fake"), "D on real and generated pairs (mean over patches)", "mean D"),
    )
    reads = ("model.width", "train.lr_g", "train.betas")

    def check_data(self, data: DataSpec) -> None:
        super().check_data(data)
        shape, side = tuple(data.shape), data.shape[-1]
        if data.kind != "images" or len(shape) != 3 or shape[1] != side or side < MIN_SIDE or side & (side - 1):
            raise FamilyError(f"family {self.name} needs square images of a power-of-two side of at least {MIN_SIDE} "
                              f"(the U-Net halves it down to 1×1), got shape {shape}")

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> Pix2PixSettings:
        refuse_settings_outside_the_recipe(self.name, hyper)
        options = hyper.options or Pix2PixOptions()
        return Pix2PixSettings(width=hyper.network.width,
                               l1_weight=None if variant.name == L1_VARIANT else options.l1_weight,
                               adam=adam_settings(variant, hyper))

    def create(self, settings: Pix2PixSettings, data: DataSpec, context: RunContext) -> ScheduledRun:
        if context.ema_decay is not None or context.precision != "fp32":
            raise FamilyError(f"family {self.name} trains its G in fp32 and samples it as trained (the paper has no "
                              "EMA): leave train.ema_decay null and train.precision fp32")
        return L1Run(settings, data, context) if settings.l1_weight is None else Pix2PixRun(settings, data, context)

    def build_sampler(self, settings: Pix2PixSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return build_generator(settings, data)


def refuse_settings_outside_the_recipe(family: str, hyper: Hyperparameters) -> None:
    """Refuse the shared optimiser and loss keys the paper's recipe has no place for: another optimiser, a separate
    D rate, several D steps per G step, a regulariser."""
    chosen = hyper.optimiser
    problems = [
        (chosen.name not in (None, "adam"), f"train.optimiser {chosen.name}", "trains with Adam",
         "train.optimiser null"),
        (chosen.lr_d is not None and chosen.lr_d != chosen.lr_g, f"train.lr_d {chosen.lr_d}",
         "trains G and D at one rate, train.lr_g", "train.lr_d null"),
        (chosen.k_d_steps not in (None, 1), f"train.k_d_steps {chosen.k_d_steps}", "takes one D update per G update",
         "train.k_d_steps null"),
        (hyper.loss.regulariser not in ("auto", "none"), f"loss.regulariser {hyper.loss.regulariser}",
         "trains Eq. 4 without a regulariser", "loss.regulariser auto"),
    ]
    for refused, setting, reason, fix in problems:
        if refused:
            raise FamilyError(f"{setting}: family {family} {reason} (Isola et al. 2017, Sec. 3.3); leave {fix}")


register_family(Pix2PixFamily())
register_variant(Variant("pix2pix", "pix2pix", NonSaturatingLoss, optimiser=DCGAN_ADAM,
                         reference="Isola et al. 2017, Eq. 4 and Sec. 3.3"))
register_variant(Variant(L1_VARIANT, "pix2pix", NonSaturatingLoss, optimiser=DCGAN_ADAM,
                         reference="Isola et al. 2017, Table 1 (L1 alone)"))
