"""How a network takes class labels: concatenated one-hot labels (Mirza & Osindero 2014), conditional batch
normalisation (de Vries et al. 2017; Miyato & Koyama 2018; Brock et al. 2019) and the projection discriminator's
inner product (Miyato & Koyama 2018). Conditioned networks are called ``net(inputs, {"y": labels, ...})``
(:func:`models.step.conditioned`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

Conditions = dict[str, Tensor]


def sampled_labels(n_classes: int, like: Tensor, rng: torch.Generator) -> Tensor:
    """Labels drawn uniformly from the ``n_classes`` classes, one per element of ``like`` (G is asked for classes of
    the label prior, Mirza & Osindero 2014, Sec. 4.1; BigGAN samples them uniformly)."""
    return torch.randint(n_classes, like.shape, device=like.device, generator=rng)


def one_hot(conditions: Conditions, n_classes: int) -> Tensor:
    """The labels ``y`` of ``conditions`` as float one-hot rows, shape (N, n_classes)."""
    return F.one_hot(conditions["y"], n_classes).float()


class LabelsConcatenatedToNoise(nn.Module):
    """A generator of ``z`` and the one-hot label: ``G(z, y) = net([z, onehot(y)])`` (Mirza & Osindero 2014,
    Sec. 3.2: "y is fed into both the discriminator and generator as additional input layer")."""

    def __init__(self, net: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.net, self.n_classes = net, n_classes

    def forward(self, z: Tensor, conditions: Conditions) -> Tensor:
        return self.net(torch.cat([z, one_hot(conditions, self.n_classes)], dim=1))


class LabelsConcatenatedToInput(nn.Module):
    """A discriminator of ``x`` and the one-hot label: points get ``[x, onehot(y)]``, images the one-hot label as
    ``K`` constant extra channels (the usual image form of the conditional GAN's input-layer concatenation)."""

    def __init__(self, net: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.net, self.n_classes = net, n_classes

    def forward(self, x: Tensor, conditions: Conditions) -> Tensor:
        labels = one_hot(conditions, self.n_classes)
        if x.dim() == 4:
            labels = labels[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.net(torch.cat([x, labels], dim=1))


class ConditionalBatchNorm2d(nn.Module):
    """Batch normalisation whose scale and shift are functions of a condition vector ``c``:
    ``out = BN(x) · (1 + γ(c)) + β(c)`` with ``γ``, ``β`` linear maps (BigGAN's ``ccbn``, Brock et al. 2019, Sec. 3 and
    Appendix B; the ``1 +`` starts every class at the identity). With ``c`` a one-hot label, ``γ`` and ``β`` are one
    learned row per class: the categorical conditional BN of Miyato & Koyama (2018, Sec. 5) and de Vries et al.
    (2017)."""

    def __init__(self, channels: int, condition_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(condition_dim, channels, bias=False)
        self.bias = nn.Linear(condition_dim, channels, bias=False)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        gain = 1.0 + self.gain(condition)[:, :, None, None]
        return self.norm(x) * gain + self.bias(condition)[:, :, None, None]


class Projection(nn.Module):
    """The projection discriminator's output from pooled features ``φ(x)``: ``ψ(φ(x)) + embed(y) · φ(x)`` (Miyato &
    Koyama 2018, Eq. 3 with ``ψ`` linear); ``ψ(φ(x))`` alone when no labels are given."""

    def __init__(self, features: int, n_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(n_classes, features) if n_classes else None

    def forward(self, features: Tensor, conditions: Conditions | None) -> Tensor:
        output = self.linear(features).squeeze(1)
        if self.embed is not None and conditions:
            output = output + (self.embed(conditions["y"]) * features).sum(dim=1)
        return output
