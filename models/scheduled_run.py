"""A :class:`~models.translation.NamedNetworksRun` that follows ``train.lr_decay`` (:mod:`models.schedule`): every
optimiser at ``factor × settings.adam.lr``. The authors' pix2pix and CycleGAN code decays linearly to zero over the
second half of training (junyanz/pytorch-CycleGAN-and-pix2pix, ``--lr_policy linear``, ``--n_epochs 100
--n_epochs_decay 100``; Zhu et al. 2017, Sec. 4).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import nn

from models.family import RunContext
from models.translation import AdamSettings, NamedNetworksRun


class ScheduledRun(NamedNetworksRun):
    """Named networks and their Adams (:class:`NamedNetworksRun`), whose rates a schedule may scale."""

    def __init__(self, networks: Callable[[], dict[str, nn.Module]], groups: Mapping[str, tuple[str, ...]],
                 adam: AdamSettings, samplers: Mapping[str, str], context: RunContext) -> None:
        super().__init__(networks, groups, adam, samplers, context)
        self.adam = adam

    def use_settings(self, settings: Any) -> None:
        """Every optimiser at ``settings.adam`` (PBT's explore step); a schedule then scales the new rate."""
        super().use_settings(settings)
        self.adam = settings.adam

    def scale_learning_rates(self, factor: float) -> None:
        """Every optimiser's rate set to ``factor × adam.lr`` (the factor of the step, so a resume follows suit)."""
        for optimiser in self.optimisers.values():
            for group in optimiser.param_groups:
                group["lr"] = self.adam.lr * factor
