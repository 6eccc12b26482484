"""The ``bicubic`` family: SRGAN's "Bicubic" row (Ledig et al. 2017, Table 2), an untrained baseline
(:mod:`models.untrained`) listed beside ``srgan`` and ``srresnet`` and scored by the same scorers.

Its sampler upsamples the low-resolution input by the dataset's scale (x's side over the input's, an integer) with
Keys' a = -0.5 cubic convolution, clipped to [-1, 1] (:mod:`models.bicubic_upsampling`): the same kernel as the
super-resolution scorer's ``psnr_bicubic`` / ``ssim_bicubic`` (``analysis/bicubic.py``), so this row's ``psnr`` and
``ssim`` are those numbers, now a row of their own with every other measure (the FID of the outputs) beside them.

Needs inputs with x's channels and one integer scale for height and width; no parameters, no training:
``train.steps`` only paces its in-training evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.bicubic_upsampling import BicubicUpsampler
from models.family import DataSpec, FamilyError, Variant, register_family, register_variant
from models.losses import AdversarialLoss
from models.untrained import UntrainedFamily


@dataclass(frozen=True)
class BicubicSettings:
    """The upsampling factor: x's side over the input's."""

    scale: int


def integer_scale(data: DataSpec) -> int | None:
    """The one integer factor that takes the input's height and width to x's, or None."""
    (height, width), (low_height, low_width) = data.shape[1:], data.source_shape[1:]
    if height % low_height or width % low_width or height // low_height != width // low_width:
        return None
    return height // low_height


class BicubicFamily(UntrainedFamily):
    name = "bicubic"
    task = "super-resolution"
    reference = "bicubic upsampling, Keys' a = -0.5 (Ledig et al. 2017, SRGAN, Table 2's Bicubic row)"
    settings = BicubicSettings

    def check_data(self, data: DataSpec) -> None:
        """The base rules (smaller inputs paired with x), inputs with x's channels and one integer scale."""
        super().check_data(data)
        if data.source_shape[0] != data.shape[0]:
            raise FamilyError(f"family {self.name} upsamples its inputs and needs them with x's {data.shape[0]} "
                              f"channel(s), got {data.source_shape[0]}")
        if integer_scale(data) is None:
            raise FamilyError(f"family {self.name} upsamples by one integer factor for height and width; inputs of "
                              f"size {tuple(data.source_shape[1:])} cannot become x's {tuple(data.shape[1:])}: use a "
                              "dataset whose image side is a multiple of its inputs'")

    def settings_for(self, data: DataSpec) -> BicubicSettings:
        return BicubicSettings(scale=integer_scale(data))

    def build_sampler(self, settings: BicubicSettings, data: DataSpec, name: str | None = None) -> BicubicUpsampler:
        return BicubicUpsampler(settings.scale)


register_family(BicubicFamily())
# No adversarial loss (the base class, which defines none) and no regulariser; the optimiser field is never read.
register_variant(Variant("bicubic", "bicubic", AdversarialLoss, reference=BicubicFamily.reference))
