"""The networks of StackGAN (Zhang et al. 2017, "StackGAN: Text to Photo-realistic Image Synthesis with Stacked
Generative Adversarial Networks"), class labels standing in for the text embedding.

* **Conditioning augmentation** (Sec. 3.1): a learned label embedding φ(y) stands in for the text embedding φ_t; a
  fully connected layer gives ``μ(φ)`` and ``log σ²(φ)``, and the condition is ``ĉ = μ + σ ⊙ ε`` with ``ε ~ N(0, I)``
  taken from the caller (a slice of the sampling noise), so that a sample is a function of (noise, label). G adds
  a multiple of ``KL(N(μ, diag σ²) ‖ N(0, I))`` (Eq. 3 and 5; :func:`kl_to_standard_normal`, its weight in
  :mod:`models.families.stackgan`).
* **Stage I G** (Sec. 3.2): ``[z, ĉ₀] → FC → 4×4 → [up-block] × log2(side/4) → conv3×3 → tanh`` at half the data's
  side; an up-block is nearest ×2, conv3×3, BN, ReLU (the authors' ``upBlock``).
* **Stage II G** (Sec. 3.3): the stage-I image through an encoder (conv3×3, ReLU; a stride-2 conv4×4, BN, ReLU),
  joined with ``ĉ`` (its own augmentation) replicated spatially (conv3×3, BN, ReLU), residual blocks, two
  up-blocks to the full side, conv3×3, tanh. No ``z``: "the randomness has already been preserved by s₀" (Sec. 3.3).
* **D** (Sec. 3.2/3.3, both stages): stride-2 conv4×4 down-sampling blocks (BN and LeakyReLU(0.2), none on the first)
  to ``M_d = 4`` (a conv3×3 at a 4×4 input), then one conv3×3, BN, LeakyReLU at 4×4 (as the authors' ``STAGE2_D``
  ends, so that D has depth at sides where few down-sampling blocks fit: without it D₁ at 8×8 learned nothing in
  300 steps, its outputs at the optimum of an uninformed D); the label compressed to ``N_d`` dimensions (a learned embedding: a fully connected layer on the
  one-hot label), replicated to ``4×4×N_d``, concatenated with the image features, conv3×3, BN, LeakyReLU, and a
  4×4 convolution to one logit. Stage II's D also has the unconditional logit of the authors' ``STAGE2_D``.

Widths derive from one base width; weights start as the authors' ``weights_init`` (:func:`init_weights_`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.conditioning import Conditions
from models.networks import dcgan_init_

#: The side of D's last feature map (M_d, Sec. 3.2) and of stage I's first one (the authors' FC → 4×4).
BASE_SIDE = 4


def init_weights_(module: nn.Module) -> None:
    """The authors' ``weights_init``: convolutions and linear layers from N(0, 0.02), BatchNorm scales from
    N(1, 0.02) (:func:`models.networks.dcgan_init_` and its 1-D cases); the label embeddings keep N(0, 1)."""
    dcgan_init_(module)
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm1d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def kl_to_standard_normal(mu: Tensor, log_variance: Tensor) -> Tensor:
    """``KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_d (μ_d² + σ_d² − 1 − log σ_d²)``, averaged over the batch (Sec. 3.1).

    The authors' code (``KL_loss``) averages over the dimensions as well, i.e. this value divided by N_g."""
    return 0.5 * (mu.pow(2) + log_variance.exp() - 1.0 - log_variance).sum(dim=1).mean()


class ConditioningAugmentation(nn.Module):
    """``y → φ(y)`` (a learned embedding) ``→ FC → (μ, log σ²)``, ``ĉ = μ + σ ⊙ ε`` (Sec. 3.1). The FC is linear, as
    the paper says (the authors' code puts a ReLU after it, which keeps σ ≥ 1)."""

    def __init__(self, n_classes: int, embedding_dim: int, condition_dim: int) -> None:
        super().__init__()
        self.condition_dim = condition_dim
        self.embedding = nn.Embedding(n_classes, embedding_dim)
        self.fc = nn.Linear(embedding_dim, 2 * condition_dim)

    def forward(self, labels: Tensor, eps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(ĉ, μ, log σ²) for ``labels`` and the standard-normal draw ``eps`` of shape (N, N_g)."""
        mu, log_variance = self.fc(self.embedding(labels)).chunk(2, dim=1)
        return mu + torch.exp(0.5 * log_variance) * eps, mu, log_variance


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Nearest-neighbour ×2, conv3×3, BN, ReLU (the authors' ``upBlock``)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU())


class ResidualBlock(nn.Module):
    """``ReLU(x + BN(conv3×3(ReLU(BN(conv3×3(x))))))`` (Sec. 3.3; the authors' ``ResBlock``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
                                   nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.block(x))


def doublings(side: int) -> int:
    """``log2(side / 4)`` for a side that is 4 times a power of two."""
    return int(math.log2(side // BASE_SIDE))


class StageOneGenerator(nn.Module):
    """G₀(z, ĉ₀) at ``side`` (half the data's): returns (image, μ₀, log σ₀²). ``noise`` is ``[z, ε₀]``."""

    def __init__(self, channels: int, side: int, width: int, z_dim: int, n_classes: int, embedding_dim: int,
                 condition_dim: int) -> None:
        super().__init__()
        self.z_dim, top = z_dim, width * 2 ** doublings(side)
        self.noise_dim = z_dim + condition_dim  # [z, ε₀]
        self.augmentation = ConditioningAugmentation(n_classes, embedding_dim, condition_dim)
        self.fc = nn.Sequential(nn.Linear(z_dim + condition_dim, top * BASE_SIDE ** 2, bias=False),
                                nn.BatchNorm1d(top * BASE_SIDE ** 2), nn.ReLU(),
                                nn.Unflatten(1, (top, BASE_SIDE, BASE_SIDE)))
        self.up = nn.Sequential(*(up_block(top >> i, top >> (i + 1)) for i in range(doublings(side))))
        self.image = nn.Sequential(nn.Conv2d(width, channels, 3, 1, 1, bias=False), nn.Tanh())
        init_weights_(self)

    def forward(self, noise: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        z, eps = noise[:, : self.z_dim], noise[:, self.z_dim :]
        condition, mu, log_variance = self.augmentation(labels, eps)
        return self.image(self.up(self.fc(torch.cat([z, condition], dim=1)))), mu, log_variance


class StageTwoGenerator(nn.Module):
    """G₁(s₀, ĉ) from the stage-I image ``s₀`` to twice its side: returns (image, μ, log σ²)."""

    def __init__(self, channels: int, width: int, n_classes: int, embedding_dim: int, condition_dim: int,
                 residual_blocks: int) -> None:
        super().__init__()
        joint = 2 * width
        self.augmentation = ConditioningAugmentation(n_classes, embedding_dim, condition_dim)
        self.encoder = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.ReLU(),
                                     nn.Conv2d(width, joint, 4, 2, 1, bias=False), nn.BatchNorm2d(joint), nn.ReLU())
        self.joint = nn.Sequential(nn.Conv2d(joint + condition_dim, joint, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(joint), nn.ReLU())
        self.residual = nn.Sequential(*(ResidualBlock(joint) for _ in range(residual_blocks)))
        self.up = nn.Sequential(up_block(joint, width), up_block(width, width))
        self.image = nn.Sequential(nn.Conv2d(width, channels, 3, 1, 1, bias=False), nn.Tanh())
        init_weights_(self)

    def forward(self, stage_one: Tensor, eps: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        condition, mu, log_variance = self.augmentation(labels, eps)
        features = self.encoder(stage_one)
        replicated = condition[:, :, None, None].expand(-1, -1, *features.shape[2:])
        h = self.residual(self.joint(torch.cat([features, replicated], dim=1)))
        return self.image(self.up(h)), mu, log_variance


class Judgement(NamedTuple):
    """D's logits: for (image, its label), for (image, a mismatched label) when asked, unconditional when D has it."""

    matched: Tensor
    mismatched: Tensor | None
    unconditional: Tensor | None


class StackGANDiscriminator(nn.Module):
    """D of one stage at ``side`` (see the module docstring): ``D(x, y, wrong)`` → :class:`Judgement`."""

    def __init__(self, channels: int, side: int, width: int, n_classes: int, compressed_dim: int,
                 unconditional: bool) -> None:
        super().__init__()
        levels = doublings(side)
        if levels == 0:  # a 4×4 input is already M_d × M_d
            layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.LeakyReLU(0.2)]
        else:
            layers = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
            for i in range(levels - 1):
                layers += [nn.Conv2d(width << i, width << (i + 1), 4, 2, 1, bias=False),
                           nn.BatchNorm2d(width << (i + 1)), nn.LeakyReLU(0.2)]
        features = width << max(levels - 1, 0)
        layers += [nn.Conv2d(features, features, 3, 1, 1, bias=False), nn.BatchNorm2d(features), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*layers)
        self.compress = nn.Embedding(n_classes, compressed_dim)
        self.conditional = nn.Sequential(nn.Conv2d(features + compressed_dim, features, 3, 1, 1, bias=False),
                                         nn.BatchNorm2d(features), nn.LeakyReLU(0.2),
                                         nn.Conv2d(features, 1, BASE_SIDE, BASE_SIDE))
        self.unconditional = nn.Conv2d(features, 1, BASE_SIDE, BASE_SIDE) if unconditional else None
        init_weights_(self)

    def _matched(self, features: Tensor, labels: Tensor) -> Tensor:
        replicated = self.compress(labels)[:, :, None, None].expand(-1, -1, BASE_SIDE, BASE_SIDE)
        return self.conditional(torch.cat([features, replicated], dim=1)).flatten()

    def forward(self, x: Tensor, labels: Tensor, wrong: Tensor | None = None) -> Judgement:
        features = self.encoder(x)
        return Judgement(self._matched(features, labels),
                         self._matched(features, wrong) if wrong is not None else None,
                         self.unconditional(features).flatten() if self.unconditional is not None else None)


def upsampled(image: Tensor, side: int) -> Tensor:
    """Stage I's image bilinearly interpolated to ``side`` (what a plain upsampler makes of it)."""
    return F.interpolate(image, size=(side, side), mode="bilinear", align_corners=False)


class StackedGenerator(nn.Module):
    """Both stages: ``noise = [z, ε₀, ε₁]`` and the label → stage II's image (the main sampler).

    :meth:`stages` returns stage I's image (upsampled to the full side) and stage II's for the same inputs."""

    def __init__(self, stage1: StageOneGenerator, stage2: StageTwoGenerator, side: int) -> None:
        super().__init__()
        self.stage1, self.stage2, self.side = stage1, stage2, side

    def stages(self, noise: Tensor, conditions: Conditions) -> tuple[Tensor, Tensor]:
        labels = conditions["y"]
        first = self.stage1(noise[:, : self.stage1.noise_dim], labels)[0]
        return upsampled(first, self.side), self.stage2(first, noise[:, self.stage1.noise_dim :], labels)[0]

    def forward(self, noise: Tensor, conditions: Conditions) -> Tensor:
        return self.stages(noise, conditions)[1]


class StageOneSampler(nn.Module):
    """Stage I alone (the ``stage1`` sampler): stage I's image of ``[z, ε₀]`` (the first entries of the stacked
    noise; the rest is ignored) upsampled to the data's side, so the same scorers score it."""

    def __init__(self, stage1: StageOneGenerator, side: int) -> None:
        super().__init__()
        self.stage1, self.side = stage1, side

    def forward(self, noise: Tensor, conditions: Conditions) -> Tensor:
        return upsampled(self.stage1(noise[:, : self.stage1.noise_dim], conditions["y"])[0], self.side)
