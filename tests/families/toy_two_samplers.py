"""A test family with two named samplers (``toy-two-samplers``): the ``gan`` family's networks and step, sampled
from the EMA of G (the main sampler, "generator") and from the raw G ("raw"), so that both are scored.

Registered by the tests that import it; it touches nothing outside this module.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from models.families.gan import GANFamily
from models.family import FAMILIES, SamplerSpec, Variant, register_family, register_variant
from models.losses import NonSaturatingLoss
from models.pair_run import PairRun
from models.step import unwrap


class TwoSamplerRun(PairRun):
    def sampler(self, name: str | None = None) -> nn.Module:
        return unwrap(self.generator) if name == "raw" else super().sampler()


class TwoSamplerFamily(GANFamily):
    name = "toy-two-samplers"
    reference = "Yazıcı et al. 2019 (EMA and raw G side by side)"
    samplers = (SamplerSpec("generator", "EMA of G"), SamplerSpec("raw", "raw G"))

    def create(self, settings, data, context) -> TwoSamplerRun:
        run = super().create(settings, data, context)
        run.__class__ = TwoSamplerRun
        return run

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return state["generator"] if name == "raw" else super().sampler_weights(state)


if TwoSamplerFamily.name not in FAMILIES:
    register_family(TwoSamplerFamily())
    register_variant(Variant("toy-two-samplers", "toy-two-samplers", NonSaturatingLoss, reference="Goodfellow et al. 2014"))
