"""The ``stylegan`` family: StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN",
after Karras et al. 2019, "A Style-Based Generator Architecture for GANs"), small, unconditional, images only.

* Networks (:mod:`models.style`): the mapping network z → w, the learned constant input, **modulated convolutions
  with demodulation** (2020, Sec. 2.2; not AdaIN), per-layer noise with learned strengths, the skip generator and
  the "orig" discriminator with minibatch standard deviation; equalised learning rate everywhere.
* Recipe (NVlabs' stylegan2-ada-pytorch, ``train.py``, configuration ``cifar``, the reference's small-image
  setting): the **non-saturating loss** (2019, Appendix C; the family's only loss); Adam(β = (0, 0.99)) at 0.0025
  in G and D; **lazy R1** on real data, γ = 0.01, one R1 update of D every 16 steps with Adam's learning rate and
  betas corrected by c = 16/17 (2020, Sec. 3.1 and Appendix B; :mod:`models.r1`); **style mixing** with probability
  0 (``cifar`` turns it off; FFHQ's 0.9, 2019 Sec. 3.1: ``families.stylegan.style_mixing``); **no path-length
  regularisation** (``cifar`` turns it off; not implemented); 2 mapping layers (``cifar``; the paper's 8) at a
  0.01 learning rate; w̄ tracked with β = 0.995; an **EMA of G** with the ``cifar`` half-life of 500k images (at
  its batch of 64: decay 0.5^(64/500,000) per step) and ramp-up 0.05 (:mod:`models.ema`); ``train.ema_decay``
  replaces it when set.
* Sampling: the **truncation trick in W** (2019, Sec. 3.2), ``w' = w̄ + ψ (w − w̄)`` (``sampling.stylegan.psi``,
  1: none), the layers' fixed noise maps (the reference's ``noise_mode='const'``, so that a seed gives one image),
  outputs clipped to the data's [-1, 1] as the reference's metrics clip them to [0, 255].

Widths and z/w sizes are the CPU's (``model.width``, ``model.z_dim``; the reference: 512 and 512). One training step
is one D update (+ the R1 update every 16th step) then one G update, D first as in the house's step (the reference
updates G first).

Illustrations (:class:`models.illustration.Illustrated`): the style-mixing grid of Karras et al. 2019, Fig. 3, and a
truncation strip. Coarse styles are the layers of the resolutions up to min(8, side / 2) (the paper's coarse
4²-8²), fine styles the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from models.family import (Batch, Curve, DataSpec, Family, FamilyError, Hyperparameters, OptimiserDefaults,
                           Progress, RunContext, Variant, register_family, register_variant)
from models.illustration import Illustration
from models.losses import NonSaturatingLoss
from models.options import option
from models.pair_run import (PAIR_CURVES, PAIR_STEP_METRICS, EMASchedule, OptimiserSettings, PairRun,
                             resolve_optimiser, sampler_kind, sampler_weights)
from models.r1 import LazyR1
from models.step import Objective, train_step, unwrap
from models.style import StyleDiscriminator, StyleGenerator, StyleSpec, mix_styles

#: stylegan2-ada-pytorch's ``cifar``: ``ema_kimg`` 500 at batch 64 as a decay per step, ``0.5 ** (batch / ema_nimg)``.
CIFAR_EMA_DECAY = 0.5 ** (64 / 500_000)
#: The ψ of the truncation strip, from w̄ to w.
STRIP_PSIS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Sources of the style-mixing grid (rows, columns) and latents of the truncation strip.
GRID_ROWS, GRID_COLUMNS, STRIP_LATENTS = 5, 6, 6


@dataclass(frozen=True)
class StyleGANOptions:
    """``families.stylegan``: NVlabs' ``cifar`` configuration."""

    style_mixing: float = option(0.0, low=0.0, high=1.0, doc="style-mixing probability p (2019, Sec. 3.1; cifar: 0, "
                                                               "FFHQ: 0.9)")
    r1_gamma: float = option(0.01, low=0.0, doc="R1 weight γ on real data (cifar: 0.01; FFHQ: 10); 0: off")
    r1_interval: int = option(16, low=1, doc="lazy R1: one R1 update of D every N steps (2020, Sec. 3.1)")
    mapping_layers: int = option(2, low=1, doc="fully connected layers of the mapping network (cifar: 2; paper: 8)")
    mapping_lr: float = option(0.01, low=0.0, open_low=True, doc="the mapping network's learning-rate multiplier "
                                                                 "(2019, Appendix C)")
    w_avg_beta: float = option(0.995, low=0.0, high=1.0, open_high=True, doc="decay of the running mean of w, "
                                                                             "the truncation trick's centre")
    mbstd_group: int = option(32, low=1, doc="minibatch standard deviation group size (cifar: 32)")
    ema_decay: float | None = option(CIFAR_EMA_DECAY, low=0.0, high=1.0, open_low=True, open_high=True,
                                     doc="EMA of G per step (cifar: a 500k-image half-life at batch 64); null: the "
                                         "raw G")
    ema_rampup: float | None = option(0.05, low=0.0, open_low=True, doc="the EMA's half-life is at most rampup × "
                                                                        "steps done (cifar: 0.05); null: none")


@dataclass(frozen=True)
class StyleGANSampling:
    """``sampling.stylegan``: the truncation trick in W."""

    psi: float = option(1.0, low=0.0, doc="w' = w_avg + psi (w - w_avg) (2019, Sec. 3.2); 1: none, 0: w_avg")


@dataclass(frozen=True)
class StyleGANSettings:
    """One resolved ``stylegan`` run: the networks, the optimiser, style mixing, R1 and the EMA."""

    network: StyleSpec
    optimiser: OptimiserSettings
    style_mixing: float
    r1_gamma: float
    r1_interval: int
    ema_decay: float | None
    ema_rampup: float | None

    def lazy_r1(self) -> LazyR1 | None:
        return LazyR1(self.r1_gamma, self.r1_interval) if self.r1_gamma > 0 else None


#: stylegan2-ada-pytorch ``cifar``: Adam lr 0.0025, β = (0, 0.99), one D update per G update.
STYLEGAN_ADAM = OptimiserDefaults(name="adam", lr_g=0.0025, lr_d=0.0025, betas=(0.0, 0.99), k_d_steps=1)


class TrainingGenerator(nn.Module):
    """G as a training step calls it: ``G(z)`` with fresh noise maps and style mixing drawn from the run's RNG."""

    def __init__(self, generator: nn.Module, rng: torch.Generator, mixing: float) -> None:
        super().__init__()
        self.generator, self.rng, self.mixing = generator, rng, mixing

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z, rng=self.rng, mixing=self.mixing)


class StyleGANRun(PairRun):
    """The G/D pair of :class:`PairRun` with StyleGAN2's step: D's update, the lazy R1 update, G's update (with style
    mixing), the EMA; D's Adam corrected for the lazy schedule."""

    def __init__(self, settings: StyleGANSettings, context: RunContext) -> None:
        spec = settings.network
        own_ema = EMASchedule(settings.ema_decay, rampup=settings.ema_rampup) if settings.ema_decay else None
        super().__init__(lambda: (StyleGenerator(spec), StyleDiscriminator(spec)), settings.optimiser,
                         Objective(loss=NonSaturatingLoss()), spec.z_dim, context, own_ema=own_ema)
        self.mixing, self.r1 = settings.style_mixing, settings.lazy_r1()
        self.scale_learning_rates(1.0)

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        drawn: list[Batch] = []

        def next_real() -> Batch:
            drawn.append(next_batch())
            return drawn[-1]

        stats = train_step(TrainingGenerator(self.generator, rng, self.mixing), self.discriminator, self.opt_g,
                           self.opt_d, self.objective, next_real, lambda n: self._noise(n, rng), 1, None, rng,
                           self.precision, progress=progress).as_dict()
        if self.r1 is not None and self.r1.due(progress):
            penalty, skipped = self.r1.step(self.discriminator, self.opt_d, drawn[-1]["x"], self.precision)
            if not skipped:
                stats["r1"] = float(penalty)
        if self.ema is not None:
            self.ema.update(unwrap(self.generator), progress.step)
        return stats

    def scale_learning_rates(self, factor: float) -> None:
        """G's and D's learning rates times ``factor``; D's (and its betas) corrected for the lazy R1 (c λ, β^c)."""
        super().scale_learning_rates(factor)
        if self.r1 is not None:
            for group in self.opt_d.param_groups:
                group["lr"] = self.r1.learning_rate(group["lr"])
                group["betas"] = self.r1.betas(self.optimiser.betas)

    def use_settings(self, settings: StyleGANSettings) -> None:
        super().use_settings(settings)
        self.scale_learning_rates(1.0)


def coarse_layers(generator: StyleGenerator) -> int:
    """The crossover of the style-mixing grid: the styles of the resolutions up to min(8, side / 2) are coarse (the
    paper's 4²-8² at 1024², Karras et al. 2019, Sec. 3.1), the rest fine."""
    synthesis = generator.synthesis
    resolutions = [4 * 2 ** index for index in range(len(synthesis.blocks))]
    side = resolutions[-1]
    fine = next(index for index, resolution in enumerate(resolutions) if resolution > min(8, side // 2))
    return synthesis.starts[fine]


def clipped(images: Tensor) -> Tensor:
    """G's images clipped to the data's [-1, 1], as :meth:`StyleGANFamily.generate` clips them."""
    return images.float().clamp(-1.0, 1.0)


class StyleGANFamily(Family):
    name = "stylegan"
    task = "unconditional"
    reference = "Karras et al. 2019; Karras et al. 2020"
    settings = StyleGANSettings
    options = StyleGANOptions
    sampling_options = StyleGANSampling
    step_metrics = {**PAIR_STEP_METRICS, "r1": "penalty/r1"}
    curves = (*PAIR_CURVES, Curve(("r1",), "R1: D's squared gradient norm on real data (lazy, every N steps)",
                                  "E‖∇ₓD(x)‖²", log=True))
    reads = ("model.z_dim", "model.width", "train.lr_g", "train.lr_d", "train.betas")

    def check_data(self, data: DataSpec) -> None:
        super().check_data(data)
        if data.kind != "images":
            raise FamilyError(f"family stylegan generates images; this dataset's samples are {data.kind} of shape "
                              f"{tuple(data.shape)}")

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> StyleGANSettings:
        options = hyper.options or StyleGANOptions()
        chosen = hyper.optimiser
        if chosen.name not in (None, "adam") or chosen.k_d_steps not in (None, 1):
            raise FamilyError("family stylegan trains with Adam and one D update per G update (Karras et al. 2020); "
                              "leave train.optimiser and train.k_d_steps null")
        if hyper.loss.regulariser not in ("auto", "none"):
            raise FamilyError(f"family stylegan regularises D with its own lazy R1 (families.stylegan.r1_gamma); "
                              f"loss.regulariser: {hyper.loss.regulariser} cannot be added, leave it auto")
        try:
            network = StyleSpec(data_shape=tuple(data.shape), z_dim=hyper.network.z_dim, w_dim=hyper.network.z_dim,
                                width=hyper.network.width, mapping_layers=options.mapping_layers,
                                mapping_lr=options.mapping_lr, w_avg_beta=options.w_avg_beta,
                                mbstd_group=options.mbstd_group)
        except ValueError as err:
            raise FamilyError(f"family stylegan: {err}") from None
        return StyleGANSettings(network=network, optimiser=resolve_optimiser(variant.optimiser, chosen),
                                style_mixing=options.style_mixing, r1_gamma=options.r1_gamma,
                                r1_interval=options.r1_interval, ema_decay=options.ema_decay,
                                ema_rampup=options.ema_rampup)

    def create(self, settings: StyleGANSettings, data: DataSpec, context: RunContext) -> StyleGANRun:
        return StyleGANRun(settings, context)

    def build_sampler(self, settings: StyleGANSettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return StyleGenerator(settings.network)

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return sampler_weights(state)

    def sampler_kind(self, state: dict[str, Any]) -> str:
        return sampler_kind(state)

    def latent_dim(self, settings: StyleGANSettings) -> int:
        return settings.network.z_dim

    def generate(self, sampler: nn.Module, z: Tensor, conditions: Batch, options: Any = None) -> Tensor:
        """``G(z)`` truncated by ``options.psi``, with the fixed noise maps, clipped to [-1, 1]."""
        psi = options.psi if options is not None else 1.0
        return sampler(z, psi=psi).clamp(-1.0, 1.0)

    def illustrations(self, sampler: nn.Module, latent_dim: int, data: DataSpec,
                      rng: torch.Generator) -> tuple[Illustration, ...]:
        """The style-mixing grid and the truncation strip (see the module docstring)."""
        return style_mixing_grid(sampler, latent_dim, rng), truncation_strip(sampler, latent_dim, rng)


def style_mixing_grid(generator: StyleGenerator, latent_dim: int, rng: torch.Generator) -> Illustration:
    """Karras et al. 2019, Fig. 3: the first row holds the column sources, the first column the row sources; cell
    (i, j) takes its coarse styles from row source i and its fine styles from column source j (the corner is blank)."""
    device = next(generator.parameters()).device
    rows = generator.styles(torch.randn(GRID_ROWS, latent_dim, generator=rng).to(device))
    columns = generator.styles(torch.randn(GRID_COLUMNS, latent_dim, generator=rng).to(device))
    crossover = coarse_layers(generator)
    mixed = mix_styles(rows.repeat_interleave(GRID_COLUMNS, dim=0), columns.repeat(GRID_ROWS, 1, 1), crossover)
    cells = clipped(generator.synthesis(mixed))
    cells = cells.reshape(GRID_ROWS, GRID_COLUMNS, *cells.shape[1:])
    row_images, column_images = (clipped(generator.synthesis(ws)) for ws in (rows, columns))
    top = torch.cat([torch.ones_like(column_images[:1]), column_images]).unsqueeze(0)
    body = torch.cat([row_images.unsqueeze(1), cells], dim=1)
    return Illustration("style_mixing", f"Style mixing: coarse styles (layers 0-{crossover - 1}) from the row's "
                        "source, fine ones from the column's (Karras et al. 2019, Fig. 3)", torch.cat([top, body]),
                        row_labels=("fine sources",) + tuple(f"coarse {i + 1}" for i in range(GRID_ROWS)),
                        column_labels=("coarse sources",) + tuple(f"fine {j + 1}" for j in range(GRID_COLUMNS)))


def truncation_strip(generator: StyleGenerator, latent_dim: int, rng: torch.Generator) -> Illustration:
    """Each row one latent, each column one ψ from w̄ (ψ = 0) to w (ψ = 1): ``w̄ + ψ (w − w̄)``."""
    device = next(generator.parameters()).device
    z = torch.randn(STRIP_LATENTS, latent_dim, generator=rng).to(device)
    images = torch.stack([clipped(generator(z, psi=psi)) for psi in STRIP_PSIS], dim=1)
    return Illustration("truncation", "The truncation trick in W: w_avg + ψ (w − w_avg) (Karras et al. 2019, "
                        "Sec. 3.2)", images, row_labels=tuple(f"z {i + 1}" for i in range(STRIP_LATENTS)),
                        column_labels=tuple(f"ψ = {psi:g}" for psi in STRIP_PSIS))


register_family(StyleGANFamily())
register_variant(Variant("stylegan", "stylegan", NonSaturatingLoss, optimiser=STYLEGAN_ADAM,
                         reference="Karras et al. 2020; stylegan2-ada-pytorch cifar"))
