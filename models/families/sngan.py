"""The ``sngan`` family: spectral normalisation for GANs (Miyato et al. 2018) with the paper's residual nets.

Every layer of D is spectrally normalised (one power iteration per forward pass, ``u`` in the checkpoint;
:mod:`models.spectral`); G is the residual generator with batch normalisation (:mod:`models.resnet`, the paper's
Appendix B.4, Table 4 for CIFAR-10, here ``model.width`` channels instead of 256/128). Recipe of the paper's
ResNet results (hinge loss, Sec. 4; the reference code's CIFAR-10 configuration, pfnet-research/sngan_projection):
Adam(α = 2e-4, β1 = 0, β2 = 0.9), n_dis = 5 D updates per G update. Unconditional; the loss is the paper's (``sngan`` only). Spectral normalisation of another
family's D: ``model.norm: spectral`` (``gan``, ``cgan``, ``acgan``).
"""

from __future__ import annotations

from models.family import OptimiserDefaults, Variant, register_family, register_variant
from models.losses import HingeLoss
from models.resnet_family import ResNetFamily

#: Miyato et al. 2018's ResNet runs (and Miyato & Koyama 2018, Sec. 5): Adam(2e-4, β1 = 0, β2 = 0.9), n_dis = 5.
SNGAN_ADAM = OptimiserDefaults(name="adam", lr_g=2.0e-4, lr_d=2.0e-4, betas=(0.0, 0.9), k_d_steps=5)


class SpectralNormGANFamily(ResNetFamily):
    name = "sngan"
    task = "unconditional"
    reference = "Miyato et al. 2018"


register_family(SpectralNormGANFamily())
register_variant(Variant("sngan", "sngan", HingeLoss, optimiser=SNGAN_ADAM, reference="Miyato et al. 2018, Sec. 4"))
