"""The ``acgan`` family: the auxiliary classifier GAN of Odena et al. (2017) on the ``gan`` family's networks.

G gets ``[z, onehot(c)]`` (the paper's Sec. 3: "every generated sample has a corresponding class label c ~ p_c in
addition to the noise z"); D is given only the image and has two heads, a source output and K class logits (one
final layer of 1 + K outputs). The objective (Sec. 3, Eq. 1-2): ``L_S`` the log-likelihood of the correct source,
``L_C`` of the correct class; D maximises ``L_S + L_C`` on real and generated data, G maximises ``L_C − L_S``, trained
here as D minimising the adversarial loss plus the class cross-entropies on real and on generated data, and G its
adversarial loss plus the class cross-entropy of its samples (:mod:`models.step`; the class logits go into the
cross-entropy once, raw).

Variants: ``acgan`` is the paper's: the GAN objective (non-saturating G loss) and Adam(2e-4, β1 = 0.5) (Appendix
B); ``acgan-<variant>`` puts any loss of the benchmark on the source head.
"""

from __future__ import annotations

from torch import Tensor, nn

from models.conditioning import Conditions
from models.families.cgan import ConditionalGANFamily
from models.families.gan import GANFamily, GANSettings, register_with_every_loss
from models.family import Curve, DataSpec, Variant, register_family
from models.losses import NonSaturatingLoss
from models.networks import build_discriminator
from models.step import Objective


class AuxiliaryClassifier(nn.Module):
    """D with 1 + K outputs as ``(source output (N,), class logits (N, K))``. It reads the image alone: the labels
    the step passes are for the class loss, not an input."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, conditions: Conditions | None = None) -> tuple[Tensor, Tensor]:
        outputs = self.net(x)
        return outputs[:, 0], outputs[:, 1:]


class AuxiliaryClassifierGANFamily(ConditionalGANFamily):
    """``cgan``'s G; D reads the image alone and classifies it."""

    name = "acgan"
    task = "class-conditional"
    reference = "Odena et al. 2017, Sec. 3"
    step_metrics = {**GANFamily.step_metrics, "class_loss_d": "loss/class_d", "class_loss_g": "loss/class_g"}
    curves = (*GANFamily.curves,
              Curve(("class_loss_d", "class_loss_g"), "Auxiliary classifier's cross-entropy (D: real + generated)",
                    "L_C"))

    def discriminator(self, settings: GANSettings, data: DataSpec) -> nn.Module:
        return AuxiliaryClassifier(build_discriminator(settings.network, outputs=1 + data.n_classes))

    def objective(self, settings: GANSettings) -> Objective:
        return settings.objective(auxiliary_classifier=True)


register_family(AuxiliaryClassifierGANFamily())
register_with_every_loss(Variant("acgan", "acgan", NonSaturatingLoss, reference="Odena et al. 2017"))
