"""BigGAN's orthogonal regularisation (Brock et al. 2019, Sec. 3.1, Eq. 3), a penalty on G's weights:

``R_β(W) = β ‖W Wᵀ ⊙ (1 − I)‖²_F``

for every weight reshaped to ``(outputs, inputs)`` (rows are filters), summed over G's weights of two or more
dimensions except the shared class embedding (BigGAN-PyTorch's ``ortho`` leaves it out too). It relaxes
orthogonality to "filters pairwise orthogonal", leaving their norms free, so that G tolerates the truncation trick;
the paper uses β = 1e-4. BigGAN-PyTorch adds ``2β (W Wᵀ ⊙ (1 − I)) W`` to the gradients directly, half the
gradient of Eq. 3 (``4β (W Wᵀ ⊙ (1 − I)) W``); ganlab follows the paper's equation. With spectral normalisation the
penalty acts on the trained (unnormalised) weights, as in BigGAN-PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


def off_diagonal_gram(weight: Tensor) -> Tensor:
    """``‖W Wᵀ ⊙ (1 − I)‖²_F`` of one weight, rows = its first dimension."""
    rows = weight.reshape(weight.shape[0], -1)
    gram = rows @ rows.T
    return (gram * (1.0 - torch.eye(len(gram), device=gram.device, dtype=gram.dtype))).pow(2).sum()


@dataclass(frozen=True)
class OrthogonalPenalty:
    """``β Σ_W ‖W Wᵀ ⊙ (1 − I)‖²_F`` over the parameters of a generator (see the module docstring); ``excluded``
    names parameters left out by prefix (the shared class embedding)."""

    beta: float
    excluded: tuple[str, ...] = ()

    def __call__(self, generator: nn.Module) -> Tensor:
        weights = [parameter for name, parameter in generator.named_parameters()
                   if parameter.dim() >= 2 and not name.startswith(self.excluded)]
        return self.beta * torch.stack([off_diagonal_gram(weight) for weight in weights]).sum()
