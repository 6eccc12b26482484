"""The ``cgan`` family: the conditional GAN of Mirza & Osindero (2014) -- the ``gan`` family's networks (MLP or DCGAN)
given the class label.

Sec. 3.2 of the paper: "y is fed into both the discriminator and generator as additional input layer". G gets
``[z, onehot(y)]``; D gets ``[x, onehot(y)]`` for points and, for images, the one-hot label as K constant extra
input channels (:mod:`models.conditioning`). D judges real images with their labels and generated images with the
labels G was asked for, drawn uniformly (the paper's Sec. 4.1 samples labels for G the same way).

Variants: ``cgan`` is the paper's: the GAN objective with the non-saturating G loss (Goodfellow et al. 2014,
Sec. 3; the paper's Eq. 2 as trained in practice) and DCGAN's Adam(2e-4, β = (0.5, 0.999)) -- the paper's own
SGD with momentum and dropout schedule is for its MLPs on MNIST. Any loss of the benchmark: ``cgan-<variant>``
(``cgan-wgan-gp``, ``cgan-hinge``, ...) trains that variant's loss, regulariser and optimiser on these networks.
Everything else (``model.*``, ``loss.*``, ``train.*``) reads as for ``gan``.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from models.conditioning import LabelsConcatenatedToInput, LabelsConcatenatedToNoise
from models.families.gan import GANFamily, GANSettings, register_with_every_loss
from models.family import DataSpec, Variant, register_family
from models.losses import NonSaturatingLoss
from models.networks import build_discriminator, build_generator


class ConditionalGANFamily(GANFamily):
    name = "cgan"
    task = "class-conditional"
    reference = "Mirza & Osindero 2014, Sec. 3.2"
    options = None  # the stabilisation techniques are the classic family's (packing cannot keep a sample's label)

    def generator(self, settings: GANSettings, data: DataSpec) -> nn.Module:
        spec = dataclasses.replace(settings.network, z_dim=settings.network.z_dim + data.n_classes)
        return LabelsConcatenatedToNoise(build_generator(spec), data.n_classes)

    def discriminator(self, settings: GANSettings, data: DataSpec) -> nn.Module:
        shape = settings.network.data_shape
        spec = dataclasses.replace(settings.network, data_shape=(shape[0] + data.n_classes, *shape[1:]))
        return LabelsConcatenatedToInput(build_discriminator(spec), data.n_classes)


register_family(ConditionalGANFamily())
register_with_every_loss(Variant("cgan", "cgan", NonSaturatingLoss, reference="Mirza & Osindero 2014"))
