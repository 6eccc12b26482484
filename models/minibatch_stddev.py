"""The minibatch standard deviation layer of Karras et al. (2018), "Progressive Growing of GANs", Sec. 3: D sees a
statistic of its whole (group of the) minibatch, so a G whose samples vary too little is told apart.

For a batch ``x`` of shape (N, C, H, W) and group size ``G = min(group_size, N)`` (N must be a multiple of G): the
batch is split into ``M = N / G`` groups, sample ``n`` in group ``n mod M`` (the reference code's reshape to
``[G, M, ...]``, tkarras/progressive_growing_of_gans ``networks.py``); in each group the standard deviation of every
feature at every pixel over the G samples, ``σ = sqrt(mean_g (x − mean_g x)² + 1e-8)`` (the biased estimate), is
averaged over features and pixels into one value; that value is appended to each of the group's samples as a
constant feature map. With ``features`` = n > 1 the channels are split into n equal parts and each part gives its
own map (StyleGAN's ``num_new_features``, Karras et al. 2019). The paper's values: group size 4, one map.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: The reference code's group size and new feature maps.
GROUP_SIZE = 4
NEW_FEATURES = 1
EPSILON = 1.0e-8


def minibatch_stddev(x: Tensor, group_size: int = GROUP_SIZE, features: int = NEW_FEATURES) -> Tensor:
    """``x`` (N, C, H, W) with ``features`` maps of its group's mean standard deviation appended: (N, C + n, H, W)."""
    n, channels, height, width = x.shape
    group = min(group_size, n)
    if n % group or channels % features:
        raise ValueError(f"minibatch stddev needs a batch that is a multiple of its group size {group} and channels "
                         f"that are a multiple of its {features} feature map(s); got {tuple(x.shape)}")
    y = x.float().reshape(group, n // group, features, channels // features, height, width)
    deviation = (y - y.mean(dim=0, keepdim=True)).pow(2).mean(dim=0).add(EPSILON).sqrt()  # (M, n, c, H, W)
    statistic = deviation.mean(dim=(2, 3, 4)).to(x.dtype)  # (M, n)
    maps = statistic.repeat(group, 1)[:, :, None, None].expand(n, features, height, width)
    return torch.cat([x, maps], dim=1)


class MinibatchStdDev(nn.Module):
    """:func:`minibatch_stddev` as a layer: ``features`` channels more out than in."""

    def __init__(self, group_size: int = GROUP_SIZE, features: int = NEW_FEATURES) -> None:
        super().__init__()
        self.group_size, self.features = group_size, features

    def forward(self, x: Tensor) -> Tensor:
        return minibatch_stddev(x, self.group_size, self.features)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, features={self.features}"
