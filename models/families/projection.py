"""The ``projection`` family: the projection discriminator of Miyato & Koyama (2018).

D is SNGAN's spectrally normalised residual discriminator whose output is ``ψ(φ(x)) + embed(y) · φ(x)`` (Eq. 3: the
label enters by an inner product with D's pooled features instead of by concatenation); G is the residual generator
with categorical conditional batch normalisation (Sec. 5: a scale and shift per class). Recipe of Sec. 5: hinge
loss, Adam(α = 2e-4, β1 = 0, β2 = 0.9), n_dis = 5. ``projection-<variant>`` puts any loss of the benchmark on it.
"""

from __future__ import annotations

from models.families.gan import register_with_every_loss
from models.families.sngan import SNGAN_ADAM
from models.family import Variant, register_family
from models.losses import HingeLoss
from models.resnet_family import ResNetFamily


class ProjectionFamily(ResNetFamily):
    name = "projection"
    task = "class-conditional"
    reference = "Miyato & Koyama 2018"
    g_norm = "class"
    projection = True


register_family(ProjectionFamily())
register_with_every_loss(Variant("projection", "projection", HingeLoss, optimiser=SNGAN_ADAM,
                               reference="Miyato & Koyama 2018, Sec. 5"))
