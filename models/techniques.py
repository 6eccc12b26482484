"""Stabilisation techniques of the classic ``gan`` family: what each does, its paper default, and which combinations
are refused. Every technique is off by default; a variant switches some on (``ns-pacgan2``, ...) and params
``families.gan.<option>`` set any of them for every ``gan`` variant (None: the variant's own value).

| option | technique | default when on |
| --- | --- | --- |
| ``real_label`` | one-sided label smoothing: D's real target α, fake target 0 (Salimans et al. 2016, Sec. 3.4) | 0.9 |
| ``noise_sigma``, ``noise_anneal`` | instance noise: D sees ``x + σ_t ε`` for real and generated ``x``; σ_t falls | σ0 = 0.02 |
|  | linearly from σ0 to exactly 0 at ``noise_anneal`` × the run's steps (Sønderby et al. 2017; Arjovsky & Bottou | over the |
|  | 2017) | whole run |
| ``feature_matching`` | G minimises ``mean_f (E_x f(x) − E_z f(G(z)))²`` over D's last hidden layer (Salimans et al., Sec. 3.1) | -- |
| ``minibatch_kernels``, ``minibatch_kernel_dim`` | minibatch discrimination (Salimans et al., Sec. 3.2) | C = 5 |
| ``mbstd_group`` | minibatch standard deviation before D's output layer (Karras et al. 2018, Sec. 3) | group 4 |
| ``pack`` | PacGAN: D judges packs of m samples concatenated (Lin et al. 2018) | m = 2 |
| ``penalty`` | ``dragan`` (Kodali et al. 2017), ``r1`` / ``r2`` (Mescheder et al. 2018): :mod:`models.penalties` | -- |

Instance noise has no reference schedule: the linear fall to exactly 0 (so the last steps train on clean data) and
σ0 = 0.02 are this project's choice, σ0 by the sweep ``benchmarks/instance_noise_sweep.yaml`` (seeds 0-2 of ring8
and grid25; 0.02 and 0.5 tied on the sum of ranks, 0.02 had the higher mean share of each dataset's best). Label smoothing
keeps G's target at 1 (the improved-GAN ImageNet code also moves G's target to α/2; the issue's recipe puts each
technique on top of the non-saturating loss unchanged).

Refused, each with its reason (:func:`technique_conflict`): smoothing with a loss that has no cross-entropy targets;
a penalty beside the variant's own regulariser (D takes one); packing with a penalty on ``(‖∇‖ − 1)²`` of each
sample's gradient (WGAN-GP's, DRAGAN's); minibatch discrimination with a per-sample penalty (D's output for one sample
depends on the others) or with the minibatch standard deviation (its parameter-free replacement, Karras et al. 2018).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import Tensor
from torch.nn import functional as F

from models.losses import AdversarialLoss
from models.options import option
from models.progress import Progress

PENALTIES = ("none", "dragan", "r1", "r2")


@dataclass(frozen=True)
class Techniques:
    """The resolved techniques of one run (all off by default), stored in its settings."""

    real_label: float = 1.0
    noise_sigma: float = 0.0
    noise_anneal: float = 1.0
    feature_matching: bool = False
    minibatch_kernels: int = 0
    minibatch_kernel_dim: int = 5
    mbstd_group: int = 0
    pack: int = 1
    penalty: str = "none"
    dragan_c: float = 0.5
    r1_gamma: float = 10.0

    @property
    def changes_step(self) -> bool:
        """Whether the run needs more than the plain step: instance noise, or an assembled D (which packing and
        feature matching need, and a new D head)."""
        return self.noise_sigma > 0 or self.changes_discriminator

    @property
    def changes_discriminator(self) -> bool:
        """Whether D is assembled from parts (packing, minibatch layers, features for feature matching)."""
        return self.pack > 1 or self.minibatch_kernels > 0 or self.mbstd_group > 0 or self.feature_matching

    def noise_at(self, progress: Progress) -> float:
        """Instance noise's σ at ``progress``: ``σ0 (1 − t / (f T))`` until ``t = f T``, then exactly 0."""
        if self.noise_sigma <= 0:
            return 0.0
        end = self.noise_anneal * max(progress.total, 1)
        return self.noise_sigma * max(0.0, 1.0 - progress.step / end)

    def on(self) -> dict[str, object]:
        """The techniques switched on, with their values (for logs and the report)."""
        off = Techniques()
        return {item.name: getattr(self, item.name) for item in dataclasses.fields(self)
                if getattr(self, item.name) != getattr(off, item.name)}


@dataclass(frozen=True)
class GANOptions:
    """``families.gan``: stabilisation techniques for every ``gan`` variant; null takes the variant's own value."""

    real_label: float | None = option(None, low=0.5, high=1.0, open_low=True,
                                      doc="one-sided label smoothing: D's real target (Salimans et al. 2016: 0.9; "
                                          "1: off)")
    noise_sigma: float | None = option(None, low=0.0, doc="instance noise σ0 on D's inputs (0: off)")
    noise_anneal: float | None = option(None, low=0.0, high=1.0, open_low=True,
                                        doc="the share of the run over which σ falls linearly to exactly 0")
    feature_matching: bool | None = option(None, doc="G matches the mean of D's last hidden layer on real data "
                                                     "(Salimans et al. 2016, Sec. 3.1)")
    minibatch_kernels: int | None = option(None, low=0, doc="minibatch discrimination's B kernels (Salimans et "
                                                            "al.: 100; 0: off)")
    minibatch_kernel_dim: int | None = option(None, low=1, doc="minibatch discrimination's C dims per kernel (5)")
    mbstd_group: int | None = option(None, low=0, doc="minibatch standard deviation group (Karras et al. 2018: 4; "
                                                      "0: off); the batch must be a multiple of it")
    pack: int | None = option(None, low=1, high=4, doc="PacGAN: samples per pack m (Lin et al. 2018: 2-4; 1: off)")
    penalty: str | None = option(None, choices=PENALTIES, doc="D's penalty: dragan (Kodali et al. 2017), r1 / r2 "
                                                              "(Mescheder et al. 2018) or none")
    dragan_c: float | None = option(None, low=0.0, open_low=True, doc="DRAGAN's perturbation: c · std(batch) · "
                                                                      "U[0, 1) (reference code: 0.5)")
    r1_gamma: float | None = option(None, low=0.0, open_low=True, doc="γ of R1 / R2, weighted γ/2 (Mescheder et al. "
                                                                      "2018, Eq. 9: 10)")


def resolve_techniques(chosen: GANOptions | None, variant_values: tuple[tuple[str, object], ...]) -> Techniques:
    """A run's techniques: each params value that is set, else the variant's, else off."""
    values = dict(variant_values)
    if chosen is not None:
        values.update({item.name: getattr(chosen, item.name) for item in dataclasses.fields(chosen)
                       if getattr(chosen, item.name) is not None})
    return Techniques(**values)


def technique_conflict(loss: type[AdversarialLoss], regulariser: str, per_sample: bool, techniques: Techniques) -> str | None:
    """Why ``techniques`` cannot train with this loss and regulariser (``per_sample``: the regulariser's penalty is
    per sample), or None. One line naming the keys."""
    t = techniques
    if t.real_label < 1.0 and not loss.probabilistic:
        return (f"families.gan.real_label = {t.real_label:g}: one-sided label smoothing sets the real target of a "
                f"cross-entropy loss, which the {loss.name} loss does not have (Salimans et al. 2016, Sec. 3.4); use "
                "it with minimax or non-saturating (LSGAN's targets are loss.lsgan_targets)")
    if t.penalty != "none" and regulariser != "none":
        return (f"families.gan.penalty = {t.penalty} cannot go with the {regulariser} regulariser: D takes one "
                "regulariser; set loss.regulariser: none or families.gan.penalty: none")
    if t.pack > 1 and (regulariser == "gradient-penalty" or t.penalty == "dragan"):
        return (f"families.gan.pack = {t.pack} cannot go with a gradient-norm penalty ((‖∇D‖ − 1)² of each sample, "
                f"{t.penalty if t.penalty == 'dragan' else 'gradient-penalty'}): a packed D's gradient is one per pack "
                "of samples; use r1 or r2 with packing, or pack: 1")
    if t.minibatch_kernels > 0 and (per_sample or t.penalty != "none"):
        return ("families.gan.minibatch_kernels > 0 cannot go with a per-sample gradient penalty: D's output for one "
                "sample depends on the whole batch (as with BatchNorm, Gulrajani et al. 2017, Sec. 4); use "
                "mbstd_group or no penalty")
    if t.minibatch_kernels > 0 and t.mbstd_group > 0:
        return ("families.gan.minibatch_kernels and mbstd_group are both on: the minibatch standard deviation is "
                "Karras et al.'s parameter-free replacement for minibatch discrimination; choose one")
    return None


class OneSidedSmoothing(AdversarialLoss):
    """Salimans et al. (2016), Sec. 3.4: D's cross-entropy with real target α and fake target 0,
    ``L_D = α E[softplus(−r)] + (1 − α) E[softplus(r)] + E[softplus(f)]``; G's loss is the wrapped loss's.

    This is the binary cross-entropy itself; improved-gan's code uses the KL form, which is this minus the constant
    entropy H(α) (same gradients). α = 1 is the wrapped loss.
    """

    probabilistic = True

    def __init__(self, loss: AdversarialLoss, real_label: float) -> None:
        self.loss, self.real_label, self.name = loss, real_label, loss.name

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        alpha = self.real_label
        return alpha * F.softplus(-real).mean() + (1.0 - alpha) * F.softplus(real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return self.loss.g_loss(fake)
