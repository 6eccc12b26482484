"""What the untrained baseline rows share (``identity`` beside CycleGAN, ``bicubic`` beside SRGAN): a family whose
samplers are fixed functions of the input image, with nothing to learn, so that a researcher compares a GAN against
its non-adversarial reference on the same data, in the same suite, scored by the same scorers (DESIGN.md, "Families
and tasks").

Contract of such a family (on the interface of :mod:`models.family`):

* **No parameters, no optimiser, no loss.** Its run's state is ``{}`` and every sampler's weights are ``{}``; the
  generator file the train stage exports holds the family, its settings and the data spec that rebuild the function.
* **The step does nothing**: it draws no batch and returns ``{}`` (no statistic to log). The row is untrained:
  ``train.steps`` only paces the in-training evaluations (every ``train.eval_every`` steps, each giving the same
  score; the best checkpoint is the first one scored).
* **Every ``train`` and ``model`` setting a suite gives its GANs is accepted and has no effect**, so a baseline
  listed beside GANs never fails their suite: the optimiser's ``lr_g``, ``lr_d``, ``betas``, ``k_d_steps`` and
  ``optimiser`` (there is nothing to optimise), ``lr_decay`` (:meth:`UntrainedRun.scale_learning_rates` has no rate
  to scale), ``ema_decay`` (the exponential moving average of a function without weights is that function) and
  ``precision`` (the autocast dtype of updates that never happen; evaluation samples in fp32). Tuning one is refused
  by the search itself: the family reads no shared key (:attr:`models.family.Family.reads` is empty).
* **Never wrapped** by ``context.wrap``: DDP (what ``ray.train.torch.prepare_model`` makes of a module on several
  workers) refuses a module without parameters, and there is nothing for the workers to synchronise -- every worker
  holds the same fixed function.

Pure PyTorch on :mod:`models.family` and :mod:`models.translation` (the samplers map the condition ``source`` to an
image, with no noise: latent_dim 0).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from models.family import Batch, DataSpec, FamilyRun, Hyperparameters, Progress, RunContext, Variant
from models.translation import TranslatorFamily


class UntrainedRun(FamilyRun):
    """One worker's instance of an untrained baseline: its samplers by name (the main one first), on the run's device
    and never wrapped (see the module docstring); the state is empty."""

    def __init__(self, samplers: Mapping[str, nn.Module], device: torch.device) -> None:
        self.samplers = {name: module.to(device) for name, module in samplers.items()}

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        """Nothing: no batch drawn, no statistic (the row is untrained; ``train.steps`` paces its evaluations)."""
        return {}

    def sampler(self, name: str | None = None) -> nn.Module:
        return self.samplers[name or next(iter(self.samplers))]

    def modules(self) -> dict[str, nn.Module]:
        """No trained network."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"an untrained baseline's state is empty; this one holds {', '.join(map(str, state))}")

    def use_settings(self, settings: Any) -> None:
        """Nothing to adopt: the settings of a baseline are fixed by its data."""

    def scale_learning_rates(self, factor: float) -> None:
        """No learning rate: ``train.lr_decay`` is accepted and has no effect."""


class UntrainedFamily(TranslatorFamily):
    """A baseline whose samplers are fixed functions ``source`` → image (:meth:`build_sampler`), from settings that
    only the data decide (:meth:`settings_for`): none of params' ``model``, ``loss`` or optimiser keys is read."""

    reads = ()

    @abstractmethod
    def settings_for(self, data: DataSpec) -> Any:
        """The settings of a run on ``data`` (already checked by :meth:`check_data`)."""

    def resolve(self, variant: Variant, hyper: Hyperparameters, data: DataSpec, world_size: int) -> Any:
        return self.settings_for(data)

    def create(self, settings: Any, data: DataSpec, context: RunContext) -> UntrainedRun:
        return UntrainedRun({name: self.build_sampler(settings, data, name) for name in self.sampler_names()},
                            context.device)

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        """None: the sampler is a function without weights."""
        return {}
