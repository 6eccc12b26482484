"""The ``identity`` family: the "no translation" row of unpaired translation, an untrained baseline
(:mod:`models.untrained`) listed beside ``cyclegan`` (Zhu et al. 2017) and scored by the same scorers.

Both samplers return their input unchanged: ``AtoB`` (the main one) maps a domain-A image ``a`` (the data's
``source``) to ``a``, and ``BtoA`` (``reverse``: scored on the data with its domains swapped) maps ``b`` to ``b``;
named as CycleGAN's samplers (the authors' ``--direction``), so the rows line up with its rows. What the task's
scorers make of it: label preservation is the domain classifier's accuracy on the untranslated images, the FID per
direction is the distance between the two domains as they are -- what a translator must close -- and the cycle error
of the round trip ``F(G(a))`` is exactly 0, the floor CycleGAN's cycle loss (Eq. 2) pulls toward (and its identity
loss, Sec. 5.2, pulls G toward this very map on B's images).

Needs domains of one shape (an image cannot be returned as an image of another shape); no parameters, no training:
``train.steps`` only paces its in-training evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from models.family import DataSpec, FamilyError, SamplerSpec, Variant, register_family, register_variant
from models.losses import AdversarialLoss
from models.untrained import UntrainedFamily


@dataclass(frozen=True)
class IdentitySettings:
    """The identity has nothing to set."""


class IdentityFamily(UntrainedFamily):
    name = "identity"
    task = "unpaired-translation"
    reference = "no translation: each image as it is (untrained baseline beside Zhu et al. 2017, CycleGAN)"
    settings = IdentitySettings
    samplers = (SamplerSpec("AtoB", "A→B"), SamplerSpec("BtoA", "B→A", reverse=True))

    def check_data(self, data: DataSpec) -> None:
        """The base rules (two unpaired image domains), and domains of one shape."""
        super().check_data(data)
        if tuple(data.source_shape) != tuple(data.shape):
            raise FamilyError(f"family {self.name} returns each image as it is, which needs domains of one shape; "
                              f"A is {tuple(data.source_shape)}, B {tuple(data.shape)}: use a dataset whose domains "
                              "share one shape")

    def settings_for(self, data: DataSpec) -> IdentitySettings:
        return IdentitySettings()

    def build_sampler(self, settings: IdentitySettings, data: DataSpec, name: str | None = None) -> nn.Module:
        return nn.Identity()


register_family(IdentityFamily())
# No adversarial loss (the base class, which defines none) and no regulariser; the optimiser field is never read.
register_variant(Variant("identity", "identity", AdversarialLoss, reference=IdentityFamily.reference))
