"""The ``stackgan`` family: StackGAN (Zhang et al. 2017), class labels in place of text embeddings (no text encoder
can be had here). Networks: :mod:`models.stackgan_networks`.

* **Conditioning augmentation** (Sec. 3.1): a learned label embedding stands in for φ_t; ``ĉ = μ(φ) + σ(φ) ⊙ ε``,
  and each stage's G adds ``w · KL(N(μ, Σ) ‖ N(0, I)) / N_g`` -- the authors' code's term (``KL_loss`` averages over
  the N_g dimensions; cfg ``TRAIN.COEFF.KL`` w = 2, ``families.stackgan.kl_weight``). The paper's λ = 1 on the whole
  KL (Sec. 4) is w = N_g = 128, 64× the code's: with labels it collapses the augmentation to N(0, I) (KL → 0.005
  within 300 steps on digits) and G ignores the label (class accuracy at chance), where w = 2 reached 68 %. The
  logged ``kl`` is the whole KL. ε is part of the
  sampling noise: ``noise = [z, ε₀, ε₁]`` (latent_dim = z_dim + 2 N_g: stage I's and stage II's augmentation), so a
  sample is a deterministic function of (noise, label).
* **Stage I** (Sec. 3.2): G₀(z, ĉ₀) at half the data's side against D₀ on the real images 2×2-average-pooled to
  that side. **Stage II** (Sec. 3.3): G₁(s₀, ĉ) at the full side, from stage I's image (stage I fixed, in eval mode)
  and its own augmentation, against D₁. D judges (image, compressed label) and is **matching-aware** (Sec. 4, after
  Reed et al. 2016): a real image with a wrong label (drawn uniformly from the other classes; the authors' code
  pairs each image with the next one's text) is a third, "fake" case. Losses as the authors' code (BCE on logits):
  D₀ minimises ``−log D(x, y) − ½[log(1 − D(G(z), y)) + log(1 − D(x, y'))]``; D₁ also has an unconditional logit
  u (the authors' ``STAGE2_D``) and minimises ``½[−log D(x, y) − log u(x)] − ⅓[log(1 − D(G, y)) + log(1 − D(x, y'))
  + log(1 − u(G))]``; G minimises ``−log D(G, y)`` (``− log u(G)`` at stage II) ``+ λ KL``. One D update, then one
  G update on the same generated batch (the authors' loop).
* **Schedule** (Sec. 4): stage I trains first with stage II fixed, then stage II with stage I fixed; stage I takes
  the first ``families.stackgan.stage1_share`` of ``train.steps``, chosen by :attr:`Progress.fraction`, so a
  resumed run continues in its stage. Each stage has its own Adam(2e-4, β = (0.5, 0.999)) pair, whose rates are
  halved ``lr_halvings`` times at even intervals of the stage (the authors halve every 100 of 600 epochs on birds,
  every 20 of 120 on COCO: 5 times).
* **Samplers**: ``generator`` (stage II's image, the main one) and ``stage1`` (stage I's image bilinearly upsampled
  to the data's side, scored by the same scorers); both from the run's stacked G. The figure
  :meth:`StackGANFamily.illustrations` shows both stages side by side for the same (noise, label).

Sizes: ``model.z_dim`` and ``model.width`` (the benchmark's shared keys) replace the paper's N_z = 100 and its widths;
N_g = N_d = 128 are the paper's (Sec. 4). README ("StackGAN") says where a CPU run departs from the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.family import (DCGAN_ADAM, Batch, Curve, DataSpec, Family, FamilyError, FamilyRun, Hyperparameters,
                           Progress, RunContext, SamplerSpec, Variant, register_family, register_variant)
from models.illustration import Illustration
from models.losses import NonSaturatingLoss
from models.options import option
from models.pair_run import OptimiserSettings, resolve_optimiser
from models.stackgan_networks import (Judgement, StackedGenerator, StackGANDiscriminator, StageOneGenerator,
                                      StageOneSampler, StageTwoGenerator, kl_to_standard_normal)
from models.step import build_optimiser, gradient_norm, unwrap

#: The data sides the family trains on (stage I at half of each).
SIDES = (8, 16, 32)


@dataclass(frozen=True)
class StackGANOptions:
    """``families.stackgan``: the paper's defaults."""

    stage1_share: float = option(0.5, low=0.0, high=1.0, open_low=True, open_high=True,
                                 doc="share of train.steps spent on stage I (Sec. 4: stage I first, then stage II)")
    kl_weight: float = option(2.0, low=0.0, doc="w of G's w·KL(N(μ, Σ) ‖ N(0, I))/N_g (authors' cfg COEFF.KL; "
                              "the paper's λ = 1 on the whole KL is w = N_g)")
    condition_dim: int = option(128, low=1, doc="N_g, the augmented condition's size (Sec. 4)")
    compressed_dim: int = option(128, low=1, doc="N_d, D's compressed label (Sec. 4)")
    embedding_dim: int = option(128, low=1, doc="size of the learned label embedding standing in for φ_t")
    residual_blocks: int = option(2, low=0, doc="stage II's residual blocks (Sec. 4: 2 in the 2× 128×128 models)")
    lr_halvings: int = option(5, low=0, doc="times the rates are halved, evenly over each stage (authors' code)")


@dataclass(frozen=True)
class StackGANSettings:
    """A ``stackgan`` run: sizes, the KL weight, the schedule and the optimiser of each stage's G and D."""

    width: int
    z_dim: int
    condition_dim: int
    compressed_dim: int
    embedding_dim: int
    residual_blocks: int
    kl_weight: float
    stage1_share: float
    lr_halvings: int
    optimiser: OptimiserSettings


def softplus_mean(logits: Tensor) -> Tensor:
    """``mean softplus(l)``: the BCE of logits against "fake" (``−log(1 − σ(l))``); of ``−l`` against "real"."""
    return F.softplus(logits).mean()


def matching_aware_d_loss(real: Judgement, fake: Judgement) -> Tensor:
    """D's loss on real images (with their labels and wrong ones) and generated ones (the module docstring)."""
    wrong_and_fake = softplus_mean(fake.matched) + softplus_mean(real.mismatched)
    if real.unconditional is None:
        return softplus_mean(-real.matched) + 0.5 * wrong_and_fake
    return (0.5 * (softplus_mean(-real.matched) + softplus_mean(-real.unconditional))
            + (wrong_and_fake + softplus_mean(fake.unconditional)) / 3.0)


def generator_adversarial_loss(fake: Judgement) -> Tensor:
    """G's non-saturating loss ``−log D(G, y)`` (``− log u(G)`` too where D has the unconditional logit)."""
    loss = softplus_mean(-fake.matched)
    return loss if fake.unconditional is None else loss + softplus_mean(-fake.unconditional)


def stage_boundary(share: float, total: int) -> int:
    """The first step of stage II: the first with ``step / total >= share``."""
    return math.ceil(share * total)


def halvings_done(step: int, start: int, length: int, halvings: int) -> int:
    """How many of a stage's ``halvings`` (at ``start + k · length / (halvings + 1)``, k = 1…) precede ``step``."""
    return min(halvings, (step - start) * (halvings + 1) // max(length, 1))


def _update(loss: Tensor, optimiser: torch.optim.Optimizer, network: nn.Module) -> Tensor:
    """One optimiser step on ``loss``; returns the gradient norm."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    norm = gradient_norm(network.parameters())
    optimiser.step()
    return norm


def wrong_labels(labels: Tensor, n_classes: int, rng: torch.Generator) -> Tensor:
    """For each label, one drawn uniformly from the ``n_classes − 1`` others (the matching-aware D's mismatch)."""
    shift = torch.randint(1, n_classes, labels.shape, device=labels.device, generator=rng)
    return (labels + shift) % n_classes


class StackGANRun(FamilyRun):
    """Both stages' G (one :class:`StackedGenerator`) and D, four Adams; see the module docstring."""

    def __init__(self, settings: StackGANSettings, data: DataSpec, context: RunContext) -> None:
        if context.ema_decay is not None or context.precision != "fp32":
            raise FamilyError("family stackgan trains its G in fp32 and samples it as trained (the paper has no EMA): "
                              "leave train.ema_decay null and train.precision fp32")
        self.settings, self.device, self.n_classes = settings, context.device, data.n_classes
        with torch.random.fork_rng(devices=[]):  # the same initial weights on every worker; global RNG untouched
            torch.manual_seed(context.seed)
            self.generator = build_stacked_generator(settings, data)
            discriminators = [build_discriminator(settings, data, stage) for stage in (1, 2)]
        self.generator.to(self.device)
        self.stage1_sampler = StageOneSampler(self.generator.stage1, data.shape[-1])
        self.g = [context.wrap(self.generator.stage1), context.wrap(self.generator.stage2)]
        self.d = [context.wrap(network.to(self.device)) for network in discriminators]
        optimiser = settings.optimiser
        self.opt_g = [build_optimiser(optimiser.name, g.parameters(), optimiser.lr_g, optimiser.betas) for g in self.g]
        self.opt_d = [build_optimiser(optimiser.name, d.parameters(), optimiser.lr_d, optimiser.betas) for d in self.d]
        self.lr_factor = 1.0

    def _set_learning_rates(self, stage: int, progress: Progress) -> None:
        boundary = stage_boundary(self.settings.stage1_share, progress.total)
        start, length = (0, boundary) if stage == 1 else (boundary, progress.total - boundary)
        factor = self.lr_factor * 0.5 ** halvings_done(progress.step, start, length, self.settings.lr_halvings)
        for optimiser, lr in ((self.opt_g[stage - 1], self.settings.optimiser.lr_g),
                              (self.opt_d[stage - 1], self.settings.optimiser.lr_d)):
            for group in optimiser.param_groups:
                group["lr"] = lr * factor

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        stage = 1 if progress.fraction < self.settings.stage1_share else 2
        self._set_learning_rates(stage, progress)
        batch = next_batch()
        y = batch["y"]
        noise = torch.randn(len(y), self.generator_noise, device=self.device, generator=rng)
        wrong = wrong_labels(y, self.n_classes, rng)
        real, (fake, mu, log_variance) = self._real_and_generated(stage, batch["x"], noise, y)
        g, d, opt_g, opt_d = self.g[stage - 1], self.d[stage - 1], self.opt_g[stage - 1], self.opt_d[stage - 1]
        real_judged = d(real, y, wrong)
        loss_d = matching_aware_d_loss(real_judged, d(fake.detach(), y))
        grad_norm_d = _update(loss_d, opt_d, d)
        bare_d = unwrap(d)
        bare_d.requires_grad_(False)  # G's update through D: no D gradients, no DDP reduction
        try:
            fake_judged = bare_d(fake, y)
            adversarial, kl = generator_adversarial_loss(fake_judged), kl_to_standard_normal(mu, log_variance)
            grad_norm_g = _update(adversarial + self.settings.kl_weight * kl / mu.shape[1], opt_g, g)
        finally:
            bare_d.requires_grad_(True)
        values = torch.stack([loss_d.detach(), adversarial.detach(), kl.detach(), grad_norm_d, grad_norm_g,
                              *(torch.sigmoid(logits.detach()).mean() for logits in
                                (real_judged.matched, fake_judged.matched, real_judged.mismatched))])
        names = ("loss_d", "loss_g", "kl", "grad_norm_d", "grad_norm_g", "d_real", "d_fake", "d_wrong")
        return {**dict(zip(names, values.tolist())), "stage": float(stage)}

    def _real_and_generated(self, stage: int, x: Tensor, noise: Tensor,
                            y: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """The stage's real images (stage I: ``x`` 2×2-average-pooled to half its side) and its G's (image, μ,
        log σ²); stage II refines stage I's image, stage I fixed (eval mode: its BatchNorm statistics too)."""
        stage1 = unwrap(self.g[0])
        stage1.train(stage == 1)
        first_noise = noise[:, : stage1.noise_dim]
        if stage == 1:
            return F.avg_pool2d(x, 2), self.g[0](first_noise, y)
        unwrap(self.g[1]).train()
        with torch.no_grad():
            first = stage1(first_noise, y)[0]
        return x, self.g[1](first, noise[:, stage1.noise_dim :], y)

    @property
    def generator_noise(self) -> int:
        return self.generator.stage1.noise_dim + self.settings.condition_dim

    def sampler(self, name: str | None = None) -> nn.Module:
        return self.stage1_sampler if name == "stage1" else self.generator

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "d1": unwrap(self.d[0]), "d2": unwrap(self.d[1])}

    def state_dict(self) -> dict[str, Any]:
        return {"networks": {name: module.state_dict() for name, module in self.modules().items()},
                "optimisers": {f"{kind}{stage}": optimiser.state_dict()
                               for kind, optimisers in (("g", self.opt_g), ("d", self.opt_d))
                               for stage, optimiser in enumerate(optimisers, start=1)}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, module in self.modules().items():
            module.load_state_dict(state["networks"][name])
        for kind, optimisers in (("g", self.opt_g), ("d", self.opt_d)):
            for stage, optimiser in enumerate(optimisers, start=1):
                optimiser.load_state_dict(state["optimisers"][f"{kind}{stage}"])

    def use_settings(self, settings: StackGANSettings) -> None:
        """Adopt ``settings.optimiser`` (PBT's explore step): the rates (set at each step) and Adam's betas."""
        self.settings = settings
        for optimiser in (*self.opt_g, *self.opt_d):
            for group in optimiser.param_groups:
                if "betas" in group:
                    group["betas"] = settings.optimiser.betas

    def scale_learning_rates(self, factor: float) -> None:
        """``train.lr_decay``'s factor, applied with the stage's halvings at the next step."""
        self.lr_factor = factor


def build_stacked_generator(settings: StackGANSettings, data: DataSpec) -> StackedGenerator:
    channels, side = data.shape[0], data.shape[-1]
    stage1 = StageOneGenerator(channels, side // 2, settings.width, settings.z_dim, data.n_classes,
                               settings.embedding_dim, settings.condition_dim)
    stage2 = StageTwoGenerator(channels, settings.width, data.n_classes, settings.embedding_dim,
                               settings.condition_dim, settings.residual_blocks)
    return StackedGenerator(stage1, stage2, side)


def build_discriminator(settings: StackGANSettings, data: DataSpec, stage: int) -> StackGANDiscriminator:
    """D₀ at half the side (conditional logit only), or D₁ at the full side (with the unconditional logit)."""
    side = data.shape[-1] // (2 if stage == 1 else 1)
    return StackGANDiscriminator(data.shape[0], side, settings.width, data.n_classes, settings.compressed_dim,
                                 unconditional=stage == 2)


#: Step statistic → MLflow metric name.
STEP_METRICS = {"loss_d": "loss/d", "loss_g": "loss/g", "kl": "loss/kl", "d_real": "d/real", "d_fake": "d/fake",
                "d_wrong": "d/wrong", "grad_norm_d": "grad_norm/d", "grad_norm_g": "grad_norm/g",
                "stage": "stackgan/stage"}
#: Illustration: rows (classes spread over the label range) and stage I / stage II pairs per row.
ILLUSTRATION_ROWS, ILLUSTRATION_PAIRS = 5, 4


class StackGANFamily(Family):
    name = "stackgan"
    task = "class-conditional"
    reference = "Zhang et al. 2017 (StackGAN), class labels for text"
    settings = StackGANSettings
    options = StackGANOptions
    samplers = (SamplerSpec("generator", "stage II"), SamplerSpec("stage1", "stage I (upsampled)"))
    step_metrics = STEP_METRICS
    curves = (
        Curve(("loss_d",), "Discriminator loss (matching-aware)", "L_D"),
        Curve(("loss_g",), "Generator's adversarial loss", "L_G"),
        Curve(("kl",), "Conditioning augmentation's KL(N(μ, Σ) ‖ N(0, I))", "KL"),
        Curve(("d_real", "d_fake", "d_wrong"), "D on real, generated and mismatched pairs", "mean D"),
        Curve(("stage",), "Stage trained", "stage"),
    )
    reads = ("model.z_dim", "model.width", "train.lr_g", "train.lr_d", "train.betas")

    def check_data(self, data: DataSpec) -> None:
        super().check_data(data)
        shape = tuple(data.shape)
        if data.kind != "images" or len(shape) != 3 or shape[0] not in (1, 3) or shape[1] != shape[2] \
                or shape[1] not in SIDES:
            raise FamilyError(f"family {self.name} needs square images of 1 or 3 channels and side "
                              f"{', '.join(map(str, SIDES))} (stage I at half of it), got shape {shape}")

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> StackGANSettings:
        options = hyper.options or StackGANOptions()
        optimiser = resolve_optimiser(variant.optimiser, hyper.optimiser)
        if optimiser.k_d_steps != 1:
            raise FamilyError(f"train.k_d_steps {optimiser.k_d_steps}: family {self.name} takes one D update per G "
                              "update, as the authors' code; leave train.k_d_steps null")
        return StackGANSettings(width=hyper.network.width, z_dim=hyper.network.z_dim,
                                condition_dim=options.condition_dim, compressed_dim=options.compressed_dim,
                                embedding_dim=options.embedding_dim, residual_blocks=options.residual_blocks,
                                kl_weight=options.kl_weight, stage1_share=options.stage1_share,
                                lr_halvings=options.lr_halvings, optimiser=optimiser)

    def create(self, settings: StackGANSettings, data: DataSpec, context: RunContext) -> StackGANRun:
        return StackGANRun(settings, data, context)

    def build_sampler(self, settings: StackGANSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        generator = build_stacked_generator(settings, data)
        return StageOneSampler(generator.stage1, data.shape[-1]) if name == "stage1" else generator

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        weights = state["networks"]["generator"]
        if name == "stage1":
            return {key: value for key, value in weights.items() if key.startswith("stage1.")}
        return weights

    def latent_dim(self, settings: StackGANSettings) -> int:
        """``[z, ε₀, ε₁]``: the noise and both stages' conditioning-augmentation draws."""
        return settings.z_dim + 2 * settings.condition_dim

    def illustrations(self, sampler: nn.Module, latent_dim: int, data: DataSpec,
                      rng: torch.Generator) -> tuple[Illustration, ...]:
        """Stage I (upsampled) and stage II side by side for the same (noise, label): one row per class (five
        spread over the labels), columns alternating stage I / stage II for four noise vectors."""
        rows = min(ILLUSTRATION_ROWS, data.n_classes)
        classes = torch.linspace(0, data.n_classes - 1, rows).round().long()
        noise = self.sample_noise(rows * ILLUSTRATION_PAIRS, latent_dim, rng)
        device = next(sampler.parameters()).device
        labels = classes.repeat_interleave(ILLUSTRATION_PAIRS)
        first, second = sampler.stages(noise.to(device), {"y": labels.to(device)})
        pairs = torch.stack([first, second], dim=1).cpu()  # (rows · pairs, 2, C, H, W)
        images = pairs.reshape(rows, 2 * ILLUSTRATION_PAIRS, *pairs.shape[2:])
        return (Illustration("stages", "StackGAN: stage I (upsampled) and stage II of the same noise and label",
                             images, row_labels=tuple(f"class {int(c)}" for c in classes),
                             column_labels=("stage I", "stage II") * ILLUSTRATION_PAIRS),)


register_family(StackGANFamily())
register_variant(Variant("stackgan", "stackgan", NonSaturatingLoss, optimiser=DCGAN_ADAM,
                         reference="Zhang et al. 2017, Sec. 3-4"))
