"""Spectral normalisation (Miyato et al. 2018): every weight divided by an estimate of its largest singular value,
``W_SN = W / σ(W)``, so each layer is at most 1-Lipschitz.

σ is estimated by power iteration (Miyato et al. 2018, Algorithm 1): one iteration per forward pass in training
mode, ``v ← Wᵀu / ‖Wᵀu‖``, ``u ← Wv / ‖Wv‖``, ``σ ≈ uᵀWv``, with ``u`` (and ``v``) kept as buffers, so they are part
of every state dict and checkpoint and a resumed run continues the same iteration. A convolution's kernel is
reshaped to ``(out_channels, in_channels · k_h · k_w)``, as in the paper's Sec. 2.1 and its reference code
(pfnet-research/sngan_projection). In eval mode the stored vectors are used as they are. PyTorch's
``torch.nn.utils.parametrizations.spectral_norm`` implements exactly this; this module applies it to every layer.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

#: The layers spectral normalisation wraps (weights with an input and an output dimension).
NORMALISED_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


def spectral_normalised(module: nn.Module) -> nn.Module:
    """``module`` with spectral normalisation (one power iteration per forward) on every weight of
    :data:`NORMALISED_LAYERS`; returns the module itself."""
    for layer in list(module.modules()):
        if isinstance(layer, NORMALISED_LAYERS):
            spectral_norm(layer, n_power_iterations=1, dim=1 if isinstance(layer, nn.ConvTranspose2d) else 0)
    return module


def normalised_weights(module: nn.Module) -> list[nn.Module]:
    """The layers of ``module`` that carry spectral normalisation."""
    return [layer for layer in module.modules()
            if isinstance(layer, NORMALISED_LAYERS) and hasattr(layer, "parametrizations")]
