"""The ``srgan`` family: SRGAN and SRResNet (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network"), task ``super-resolution``. Networks: :mod:`models.srgan_networks`; content losses:
:mod:`models.sr_content`.

* **Objective** (Eq. 3-7): G minimises the perceptual loss ``l_X + 10⁻³ · l_Gen`` with ``l_Gen = −log D(G(s))`` (Eq. 6,
  the non-saturating loss; ``families.srgan.adversarial_weight``), D the standard ``−log D(x) − log(1 − D(G(s)))``
  (Eq. 2); one D update, then one G update on the same batch (Sec. 3.2: "we alternate updates", k = 1), through
  :func:`models.translation.supervised_step`. Adam with lr 10⁻⁴ and β₁ = 0.9 (β₂ = 0.999, Kingma & Ba's default) for
  both (Sec. 3.2): one rate, ``train.lr_g`` (``train.lr_d`` is not read).
* **Content loss** ``l_X`` (``families.srgan.content``, :mod:`models.sr_content`): ``mse`` (Eq. 4, the default),
  ``mse+classifier`` (pixel MSE + 0.1 × the MSE of the domain classifier's features, ``classifier_weight``) or
  ``vgg19`` (Eq. 5's φ5,4 from a local torchvision weights file, ``vgg19_weights``; images of side 16 or more).
  ``mse+classifier`` needs the domain classifier, which the pipeline hands only to a family that declares
  :attr:`~models.family.Family.uses_feature_network` -- a class attribute, the same for all of a family's runs, and
  the classifier's sha256 enters the key of each of them. So the classifier content is a family of its own,
  ``srgan-clf`` (labelled data only), whose ``content`` is ``mse+classifier``; ``srgan`` refuses it, naming
  ``srgan-clf``, and keeps runs on unlabelled data (``photos-sr4``) and their keys free of the classifier.
* **Schedule** (Sec. 3.2): SRGAN's G starts from a trained SRResNet-MSE ("to avoid undesired local optima"): its first
  ``pretrain_share`` of ``train.steps`` trains G alone on the pixel MSE (default 5/6: the paper's 10⁶ SRResNet
  iterations before 2·10⁵ SRGAN ones), then the GAN objective above; after ``lr_drop_share`` (½) of the adversarial
  steps both rates drop to 1/10 (10⁵ iterations at 10⁻⁴, then 10⁵ at 10⁻⁵). The phase is a function of
  :class:`~models.progress.Progress`, so a resumed run continues in its phase; ``train.lr_decay`` multiplies on top.
  Both shares are of ``train.steps``: extending a finished run to more steps moves the phases (as StackGAN's stages).
* **Variants**: ``srgan`` (SRGAN-MSE by default; SRGAN-VGG54 with ``content: vgg19``) and ``srresnet`` -- the same G
  trained on its content loss alone at 10⁻⁴ throughout, no D built (Sec. 3.2's SRResNet-MSE); ``srgan-clf`` and
  ``srresnet-clf`` the same with the classifier content. The bicubic baseline row is the ``bicubic`` family's.

Sampling: G(s) in eval mode (BN's running statistics); no noise (latent_dim 0). G trains in fp32 without EMA (the paper
has neither): other ``train.precision`` or an ``ema_decay`` are refused, as are RMSprop and ``train.k_d_steps`` ≠ 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.family import (MAIN_SAMPLER, Batch, Curve, DataSpec, FamilyError, Hyperparameters, OptimiserDefaults,
                           Progress, RunContext, Variant, register_family, register_variant)
from models.losses import NonSaturatingLoss
from models.options import option
from models.sr_content import (CLASSIFIER_CONTENT, CONTENTS, VGG_CONTENT, VGG_MIN_SIDE, FeatureContent,
                               VGGWeightsError, load_vgg19_features)
from models.srgan_networks import SRGANDiscriminator, SRResNet
from models.translation import (AdamSettings, NamedNetworksRun, SupervisedObjective, TranslatorFamily, adam_settings,
                                floats, supervised_step, update)

#: Sec. 3.2: Adam with β₁ = 0.9 and a learning rate of 10⁻⁴ for G and D.
SRGAN_ADAM = OptimiserDefaults(lr_g=1.0e-4, lr_d=1.0e-4, betas=(0.9, 0.999))
#: The variants whose G trains on its content loss alone (no D): SRResNet.
SRRESNET_VARIANTS = ("srresnet", "srresnet-clf")
#: Sec. 3.2: the second half of SRGAN's training runs at 10⁻⁵, a tenth of the first's rate.
LR_DROP = 0.1


@dataclass(frozen=True)
class SRGANOptions:
    """``families.srgan``: the paper's defaults (the module docstring)."""

    residual_blocks: int = option(16, low=0, doc="B, G's residual blocks (Fig. 4: 16)")
    content: str = option("mse", choices=CONTENTS, doc="content loss: mse (Eq. 4), vgg19 (Eq. 5, φ5,4; needs "
                          "vgg19_weights); mse+classifier is family srgan-clf's")
    adversarial_weight: float = option(1.0e-3, low=0.0, doc="weight of G's adversarial loss (Eq. 3)")
    classifier_weight: float = option(0.1, low=0.0, doc="weight of the classifier-feature MSE (content "
                                      "mse+classifier; makes it comparable to the pixel MSE, as Sec. 3.2's 1/12.75)")
    vgg19_weights: str = option("", doc="a local torchvision vgg19 state-dict file (content vgg19)")
    pretrain_share: float = option(5 / 6, low=0.0, high=1.0, open_high=True, doc="share of train.steps in which "
                                   "SRGAN's G trains on the pixel MSE alone (Sec. 3.2: 10⁶ SRResNet iterations, then "
                                   "2·10⁵ SRGAN ones)")
    lr_drop_share: float = option(0.5, low=0.0, high=1.0, doc="share of the adversarial steps before the rates drop "
                                  "to 1/10 (Sec. 3.2: 10⁵ at 10⁻⁴, then 10⁵ at 10⁻⁵)")


@dataclass(frozen=True)
class SRGANClassifierOptions(SRGANOptions):
    """``families.srgan-clf``: as ``families.srgan``, the content the classifier's."""

    content: str = option(CLASSIFIER_CONTENT, choices=(CLASSIFIER_CONTENT,), doc="pixel MSE + classifier_weight × "
                          "the MSE of the domain classifier's features")


@dataclass(frozen=True)
class SRGANSettings:
    """A run: G's size and scale, whether D trains, the content loss and the schedule. Settings a run cannot use are
    neutral (a content-only run's adversarial weight 0, no pre-training, no drop; weights of unused contents 0 / ""),
    so changing them retrains nothing."""

    width: int
    residual_blocks: int
    scale: int
    adversarial: bool
    content: str
    adversarial_weight: float
    classifier_weight: float
    vgg19_weights: str
    pretrain_share: float
    lr_drop_share: float
    adam: AdamSettings


def data_scale(data: DataSpec) -> int:
    """x's side over the input's (0 where the two sides' ratios differ or are not whole)."""
    (_, height, width), (_, low_height, low_width) = data.shape, data.source_shape
    scale = height // low_height
    return scale if (height, width) == (low_height * scale, low_width * scale) else 0


def in_adversarial_phase(settings: SRGANSettings, progress: Progress) -> bool:
    """Whether this step trains the GAN (after the MSE pre-training), not G alone."""
    return settings.adversarial and progress.fraction >= settings.pretrain_share


def learning_rate_drop(settings: SRGANSettings, progress: Progress) -> float:
    """:data:`LR_DROP` once ``lr_drop_share`` of the adversarial steps are done, else 1."""
    if not in_adversarial_phase(settings, progress):
        return 1.0
    done = (progress.fraction - settings.pretrain_share) / (1.0 - settings.pretrain_share)
    return LR_DROP if done >= settings.lr_drop_share else 1.0


def build_generator(settings: SRGANSettings, data: DataSpec) -> SRResNet:
    return SRResNet(data.shape[0], settings.width, settings.residual_blocks, settings.scale)


def content_loss(settings: SRGANSettings, context: RunContext, family: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The run's ``l_X`` (:mod:`models.sr_content`)."""
    if settings.content == CLASSIFIER_CONTENT:
        if context.feature_network is None:
            raise FamilyError(f"family {family}: content {CLASSIFIER_CONTENT} needs the domain classifier, which this "
                              "run was not given")
        return FeatureContent(context.feature_network, settings.classifier_weight, pixel_weight=1.0)
    if settings.content == VGG_CONTENT:
        try:
            network = load_vgg19_features(settings.vgg19_weights)
        except VGGWeightsError as err:
            raise FamilyError(f"families.{family}.vgg19_weights: {err}") from None
        return FeatureContent(network.to(context.device), 1.0, pixel_weight=0.0)
    return F.mse_loss


class SRGANRun(NamedNetworksRun):
    """G (and D unless content-only), one Adam each; the step follows the schedule of the module docstring."""

    def __init__(self, settings: SRGANSettings, data: DataSpec, context: RunContext, family: str) -> None:
        if context.ema_decay is not None or context.precision != "fp32":
            raise FamilyError(f"family {family} trains its G in fp32 and samples it as trained (the paper has no EMA): "
                              "leave train.ema_decay null and train.precision fp32")

        def networks() -> dict[str, nn.Module]:
            built: dict[str, nn.Module] = {"generator": build_generator(settings, data)}
            if settings.adversarial:
                built["discriminator"] = SRGANDiscriminator(data.shape, settings.width)
            return built

        names = ("generator", "discriminator") if settings.adversarial else ("generator",)
        super().__init__(networks, {name: (name,) for name in names}, settings.adam, {MAIN_SAMPLER: "generator"},
                         context)
        self.settings, self.lr_factor = settings, 1.0
        self.objective = SupervisedObjective(NonSaturatingLoss(), content_loss(settings, context, family),
                                             adversarial_weight=settings.adversarial_weight)

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        adversarial = in_adversarial_phase(self.settings, progress)
        factor = self.lr_factor * learning_rate_drop(self.settings, progress)
        for optimiser in self.optimisers.values():
            for group in optimiser.param_groups:
                group["lr"] = self.settings.adam.lr * factor
        batch = next_batch()
        if adversarial:
            statistics = supervised_step(self, self.objective, batch["source"], batch["x"])
        else:
            statistics = self._content_step(batch["source"], batch["x"])
        return {**statistics, "adversarial": float(adversarial)}

    def _content_step(self, source: Tensor, real: Tensor) -> dict[str, float]:
        """G alone: SRResNet on its content loss, or SRGAN's pre-training on the pixel MSE."""
        content = F.mse_loss if self.settings.adversarial else self.objective.content
        loss = content(self.nets["generator"](source), real)
        update(loss, self.optimisers["generator"])
        return floats({"content": loss})

    def use_settings(self, settings: SRGANSettings) -> None:
        """Adopt ``settings.adam`` (PBT's explore step): betas now, the rate (with the schedule) at each step."""
        super().use_settings(settings)
        self.settings = settings

    def scale_learning_rates(self, factor: float) -> None:
        """``train.lr_decay``'s factor, applied with the schedule's drop at the next step."""
        self.lr_factor = factor


#: Step statistic → MLflow metric name.
STEP_METRICS = {"loss_d": "loss/d", "loss_g": "loss/g", "content": "loss/content", "d_real": "d/real",
                "d_fake": "d/fake", "adversarial": "srgan/adversarial"}


class SRGANFamily(TranslatorFamily):
    name = "srgan"
    task = "super-resolution"
    reference = "Ledig et al. 2017 (SRGAN, SRResNet)"
    settings = SRGANSettings
    options = SRGANOptions
    sampler_networks = {MAIN_SAMPLER: "generator"}
    step_metrics = STEP_METRICS
    curves = (
        Curve(("content",), "Content loss (pixel MSE during SRGAN's pre-training)", "l_X"),
        Curve(("loss_g",), "Generator's adversarial loss −log D(G(s))", "l_Gen"),
        Curve(("loss_d",), "Discriminator loss", "L_D"),
        Curve(("d_real", "d_fake"), "D on real and super-resolved images", "mean D"),
        Curve(("adversarial",), "Adversarial phase (after the MSE pre-training)", "phase"),
    )
    reads = ("model.width", "train.lr_g", "train.betas")

    def check_data(self, data: DataSpec) -> None:
        """The base rules (smaller, paired inputs), then images with x's channels at a power-of-2 scale."""
        super().check_data(data)
        if data.kind != "images" or len(data.shape) != 3 or len(data.source_shape) != 3:
            raise FamilyError(f"family {self.name} super-resolves images (C, H, W), got shape {tuple(data.shape)}")
        if data.source_shape[0] != data.shape[0]:
            raise FamilyError(f"family {self.name} upsamples its inputs and needs them with x's {data.shape[0]} "
                              f"channel(s), got {data.source_shape[0]}")
        scale = data_scale(data)
        if scale < 2 or scale & (scale - 1):
            raise FamilyError(f"family {self.name} upsamples by powers of 2 (sub-pixel ×2 blocks); inputs "
                              f"{tuple(data.source_shape[1:])} → x {tuple(data.shape[1:])} is not one: use a dataset "
                              "of scale 2, 4, 8…")

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> SRGANSettings:
        options, chosen = hyper.options or self.options(), hyper.optimiser
        if chosen.k_d_steps not in (None, 1) or chosen.name not in (None, "adam"):
            raise FamilyError(f"train.k_d_steps {chosen.k_d_steps}, train.optimiser {chosen.name}: family {self.name} "
                              "alternates one D and one G update with Adam (Sec. 3.2); leave both null")
        self._check_content(options, data)
        adversarial = variant.name not in SRRESNET_VARIANTS
        return SRGANSettings(
            width=hyper.network.width, residual_blocks=options.residual_blocks, scale=data_scale(data),
            adversarial=adversarial, content=options.content,
            adversarial_weight=options.adversarial_weight if adversarial else 0.0,
            classifier_weight=options.classifier_weight if options.content == CLASSIFIER_CONTENT else 0.0,
            vgg19_weights=options.vgg19_weights if options.content == VGG_CONTENT else "",
            pretrain_share=options.pretrain_share if adversarial else 0.0,
            lr_drop_share=options.lr_drop_share if adversarial else 1.0, adam=adam_settings(variant, hyper))

    def _check_content(self, options: SRGANOptions, data: DataSpec) -> None:
        key = f"families.{self.name}.content"
        if options.content == CLASSIFIER_CONTENT and not self.uses_feature_network:
            raise FamilyError(f"{key} {CLASSIFIER_CONTENT}: the domain classifier goes only to family srgan-clf "
                              "(a family asks for it for all its runs); train variant srgan-clf or srresnet-clf "
                              "instead")
        if options.content == VGG_CONTENT and not options.vgg19_weights:
            raise FamilyError(f"{key} vgg19 needs VGG19's ImageNet weights, which cannot be downloaded here: set "
                              f"families.{self.name}.vgg19_weights to a torchvision vgg19 state-dict file")
        if options.content == VGG_CONTENT and min(data.shape[1:]) < VGG_MIN_SIDE:
            raise FamilyError(f"{key} vgg19: φ5,4 follows four 2×2 max-poolings and needs images of side "
                              f"{VGG_MIN_SIDE} or more, got {tuple(data.shape[1:])}")

    def create(self, settings: SRGANSettings, data: DataSpec, context: RunContext) -> SRGANRun:
        return SRGANRun(settings, data, context, self.name)

    def build_sampler(self, settings: SRGANSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return build_generator(settings, data)


class SRGANClassifierFamily(SRGANFamily):
    """``srgan-clf``: SRGAN with the domain classifier's features in its content loss (labelled data only)."""

    name = "srgan-clf"
    reference = "Ledig et al. 2017 (SRGAN, SRResNet), the domain classifier's features as Eq. 5's φ"
    options = SRGANClassifierOptions
    uses_feature_network = True


register_family(SRGANFamily())
register_family(SRGANClassifierFamily())
register_variant(Variant("srgan", "srgan", NonSaturatingLoss, optimiser=SRGAN_ADAM,
                         reference="Ledig et al. 2017, Sec. 2.2 and 3.2 (SRGAN)"))
register_variant(Variant("srresnet", "srgan", NonSaturatingLoss, optimiser=SRGAN_ADAM,
                         reference="Ledig et al. 2017, Sec. 3.2 (SRResNet, content loss alone)"))
register_variant(Variant("srgan-clf", "srgan-clf", NonSaturatingLoss, optimiser=SRGAN_ADAM,
                         reference="Ledig et al. 2017, Sec. 2.2 and 3.2, the domain classifier's features as φ"))
register_variant(Variant("srresnet-clf", "srgan-clf", NonSaturatingLoss, optimiser=SRGAN_ADAM,
                         reference="Ledig et al. 2017, Sec. 3.2 (SRResNet), the domain classifier's features as φ"))
