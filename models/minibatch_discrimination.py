"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", Sec. 3.2): D sees, beside
each sample's features, how close that sample is to the others of its minibatch, so a collapsed G is told apart.

For features ``f(x_i) ∈ R^A`` and a tensor ``T ∈ R^{A×B×C}``: ``M_i = f(x_i) T ∈ R^{B×C}``,
``c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_1)``, ``o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j) + β_b``. The reference code
(openai/improved-gan, ``nn.py`` ``MinibatchLayer``) excludes the sample itself, adds a learned bias β initialised
to −1, draws T from N(0, 0.05) and uses B = 100 kernels of C = 5 dimensions (its CIFAR-10 and SVHN models); it also
weight-normalises T and initialises it from the data, which this layer does not (T is a plain parameter).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: The reference code's kernels B, dimensions per kernel C and the scale of T's initial values.
KERNELS, KERNEL_DIM, INIT_STD = 100, 5, 0.05


class MinibatchDiscrimination(nn.Module):
    """(N, A) features → (N, B) closeness to the rest of the batch (see the module docstring)."""

    def __init__(self, in_features: int, kernels: int = KERNELS, kernel_dim: int = KERNEL_DIM) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * INIT_STD)
        self.bias = nn.Parameter(torch.full((kernels,), -1.0))

    def forward(self, features: Tensor) -> Tensor:
        n = features.shape[0]
        m = (features @ self.T).view(n, self.kernels, self.kernel_dim).transpose(0, 1)  # (B, N, C)
        closeness = torch.exp(-torch.cdist(m, m, p=1.0))  # (B, N, N)
        others = 1.0 - torch.eye(n, device=features.device, dtype=closeness.dtype)
        return (closeness * others).sum(dim=2).transpose(0, 1) + self.bias

    def extra_repr(self) -> str:
        return f"kernels={self.kernels}, kernel_dim={self.kernel_dim}"
