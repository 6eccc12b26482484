"""What the families of image-to-image tasks share (pix2pix, CycleGAN, SRGAN and the tests' toy translators): one
Adam setting for every optimiser, a run of named networks and optimisers that checkpoints every one of them, the
update of a supervised GAN (pix2pix, SRGAN: a content loss beside the adversarial one) and the family plumbing of
samplers that are networks of the run and map the condition ``source`` to an image.

Pure PyTorch on the family interface (:mod:`models.family`) and the shared step's helpers (:mod:`models.step`).
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Mapping

import torch
from torch import Tensor, nn

from models.family import Batch, Family, FamilyRun, Hyperparameters, RunContext, Variant
from models.losses import AdversarialLoss
from models.step import build_optimiser, conditioned, unwrap


@dataclass(frozen=True)
class AdamSettings:
    """One Adam (Kingma & Ba 2015) setting for all of a run's optimisers, as pix2pix, CycleGAN and SRGAN use one rate
    for G and D."""

    lr: float
    betas: tuple[float, float]


def adam_settings(variant: Variant, hyper: Hyperparameters) -> AdamSettings:
    """``train.lr_g`` (× the workers' ``lr_factor``) and ``train.betas``, else the variant's paper defaults."""
    defaults, chosen = variant.optimiser, hyper.optimiser
    return AdamSettings(lr=(chosen.lr_g or defaults.lr_g) * chosen.lr_factor, betas=chosen.betas or defaults.betas)


def update(loss: Tensor, optimiser: torch.optim.Optimizer) -> None:
    """One optimiser step on ``loss``."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


@contextmanager
def frozen(*networks: nn.Module) -> Iterator[list[nn.Module]]:
    """The bare networks with ``requires_grad`` off (G's update through D: no D gradients, no DDP reduction), as
    :func:`models.step.generator_step` calls D."""
    bare = [unwrap(network) for network in networks]
    for network in bare:
        network.requires_grad_(False)
    try:
        yield bare
    finally:
        for network in bare:
            network.requires_grad_(True)


def floats(values: Mapping[str, Tensor]) -> dict[str, float]:
    """Step statistics as plain floats (one host synchronisation)."""
    return dict(zip(values, torch.stack([value.detach().float() for value in values.values()]).tolist()))


class NamedNetworksRun(FamilyRun):
    """Named networks (built from ``context.seed``, wrapped by ``context.wrap``) and one Adam per group of them; a
    checkpoint holds every network and optimiser. ``samplers`` names the network each sampler draws from."""

    def __init__(self, networks: Callable[[], dict[str, nn.Module]], groups: Mapping[str, tuple[str, ...]],
                 adam: AdamSettings, samplers: Mapping[str, str], context: RunContext) -> None:
        self.device, self.samplers = context.device, dict(samplers)
        with torch.random.fork_rng(devices=[]):  # the same initial weights on every worker; global RNG untouched
            torch.manual_seed(context.seed)
            bare = networks()
        self.nets = {name: context.wrap(network.to(self.device)) for name, network in bare.items()}
        self.optimisers = {group: build_optimiser("adam", itertools.chain(*(self.nets[n].parameters() for n in names)),
                                                  adam.lr, adam.betas) for group, names in groups.items()}

    def sampler(self, name: str | None = None) -> nn.Module:
        return unwrap(self.nets[self.samplers[name or next(iter(self.samplers))]])

    def modules(self) -> dict[str, nn.Module]:
        return {name: unwrap(network) for name, network in self.nets.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"networks": {name: network.state_dict() for name, network in self.modules().items()},
                "optimisers": {name: optimiser.state_dict() for name, optimiser in self.optimisers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, network in self.modules().items():
            network.load_state_dict(state["networks"][name])
        for name, optimiser in self.optimisers.items():
            optimiser.load_state_dict(state["optimisers"][name])

    def use_settings(self, settings: Any) -> None:
        """Every optimiser at ``settings.adam``'s rate and betas (PBT's explore step)."""
        for optimiser in self.optimisers.values():
            for group in optimiser.param_groups:
                group["lr"], group["betas"] = settings.adam.lr, settings.adam.betas


class NamedNetworksFamily(Family):
    """A family whose samplers are networks of a :class:`NamedNetworksRun`: :attr:`sampler_networks` maps each sampler name
    (the main one first, as :attr:`samplers`) to its network's name in the run's state."""

    sampler_networks: ClassVar[Mapping[str, str]]

    def sampler_weights(self, state: dict[str, Any], name: str | None = None) -> dict[str, Tensor]:
        return state["networks"][self.sampler_networks[name or self.sampler_names()[0]]]


class TranslatorFamily(NamedNetworksFamily):
    """A family whose samplers map the condition ``source`` to an image, with no z (latent_dim 0)."""

    def latent_dim(self, settings: Any) -> int:
        return 0

    def generate(self, sampler: nn.Module, z: Tensor, conditions: Batch, options: Any = None) -> Tensor:
        return sampler(conditions["source"])


@dataclass(frozen=True)
class SupervisedObjective:
    """A GAN whose G is also taught by the target (pix2pix, SRGAN): D minimises ``d_scale × L_D`` (``pairs``: D judges
    the (source, image) pair), G minimises ``adversarial_weight × L_G + content_weight × content(G(s), x)``."""

    loss: AdversarialLoss
    content: Callable[[Tensor, Tensor], Tensor]
    content_weight: float = 1.0
    adversarial_weight: float = 1.0
    d_scale: float = 1.0
    pairs: bool = False


def supervised_step(run: NamedNetworksRun, objective: SupervisedObjective, source: Tensor, real: Tensor,
                    noise: torch.Generator | None = None) -> dict[str, float]:
    """One D update on (x, G(s)), then one G update through the frozen D; G draws its dropout from ``noise``."""
    generator, discriminator = run.nets["generator"], run.nets["discriminator"]
    judged = {"source": source} if objective.pairs else None
    fake = generator(source) if noise is None else generator(source, noise=noise)
    real_out = conditioned(discriminator, real, judged)
    fake_out = conditioned(discriminator, fake.detach(), judged)
    loss_d = objective.d_scale * objective.loss.d_loss(real_out, fake_out)
    update(loss_d, run.optimisers["discriminator"])
    with frozen(discriminator) as (bare_d,):
        adversarial = objective.loss.g_loss(conditioned(bare_d, fake, judged))
        content = objective.content(fake, real)
        update(objective.adversarial_weight * adversarial + objective.content_weight * content,
               run.optimisers["generator"])
    d_output = objective.loss.d_output
    return floats({"loss_d": loss_d, "loss_g": adversarial, "content": content,
                   "d_real": d_output(real_out).mean(), "d_fake": d_output(fake_out).mean()})
