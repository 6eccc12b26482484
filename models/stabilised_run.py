"""A ``gan`` run with the techniques that change the training step (:mod:`models.techniques`): instance noise,
packing and feature matching. The others (label smoothing, minibatch layers, penalties) live in the objective and
in D, and the step is the house's (:func:`models.step.train_step`, feature matching as its G update).

One step: k D updates, each on a fresh real batch -- with packing, m batches drawn and concatenated, so D judges N
packs of m real and N packs of m generated samples (Lin et al. 2018 keep the number of packs per minibatch) -- then
one G update: the adversarial one, or with feature matching ``mean_f (E f(x) − E f(G(z)))²`` over D's last hidden
layer on a separately drawn real batch (Salimans et al. 2016, Sec. 3.1; improved-gan draws G's real batch apart
from D's), through D frozen as in :func:`models.step.generator_step`. With instance noise, every real batch and
every generated sample D sees (in D's and in G's updates) gets ``σ_t ε``, ε ~ N(0, I) from the run's RNG; once
σ_t = 0 nothing is drawn.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from models.family import Batch, Progress, RunContext
from models.pair_run import OptimiserSettings, PairRun
from models.precision import Precision
from models.step import Objective, _backward_and_step, train_step, unwrap
from models.techniques import Techniques


class NoisyGenerator(nn.Module):
    """G as the step calls it: ``G(z) + σ ε`` (instance noise on generated samples; σ = 0: ``G(z)``)."""

    def __init__(self, generator: nn.Module, sigma: float, rng: torch.Generator) -> None:
        super().__init__()
        self.generator, self.sigma, self.rng = generator, sigma, rng

    def forward(self, z: Tensor) -> Tensor:
        return with_noise(self.generator(z), self.sigma, self.rng)


def with_noise(x: Tensor, sigma: float, rng: torch.Generator) -> Tensor:
    """``x + σ ε``, ε ~ N(0, I) from ``rng``; ``x`` itself (nothing drawn) when σ = 0."""
    if sigma == 0.0:
        return x
    return x + sigma * torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=rng)


def feature_matching_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer, z: Tensor,
                          real: Tensor, precision: Precision) -> Tensor:
    """One G update on ``mean_f (E_x f(x) − E_z f(G(z)))²`` (f: ``discriminator.features``, D frozen); returns
    :func:`models.step.generator_step`'s ``[loss, ‖∇G‖, class loss, weight penalty, skipped]``."""
    bare_d = unwrap(discriminator)
    bare_d.requires_grad_(False)
    try:
        with precision.autocast():
            with torch.no_grad():
                target = bare_d.features(real).float().mean(dim=0)
            loss = (target - bare_d.features(generator(z)).float().mean(dim=0)).square().mean()
        grad_norm, skipped = _backward_and_step(loss, opt_g, generator.parameters(), precision.scaler_g)
    finally:
        bare_d.requires_grad_(True)
    zero = torch.zeros((), device=loss.device)
    return torch.stack([loss.detach(), grad_norm.to(loss.device), zero, zero, skipped])


class StabilisedRun(PairRun):
    """:class:`PairRun` with instance noise, packing and feature matching (see the module docstring)."""

    def __init__(self, networks: Callable[[], tuple[nn.Module, nn.Module]], optimiser: OptimiserSettings,
                 objective: Objective, latent_dim: int, context: RunContext, techniques: Techniques) -> None:
        super().__init__(networks, optimiser, objective, latent_dim, context)
        self.techniques = techniques

    def step(self, next_batch: Callable[[], Batch], rng: torch.Generator, progress: Progress) -> dict[str, float]:
        sigma = self.techniques.noise_at(progress)

        def next_real() -> Tensor:
            x = torch.cat([next_batch()["x"] for _ in range(self.techniques.pack)])
            return with_noise(x, sigma, rng)

        generator = NoisyGenerator(self.generator, sigma, rng)
        matching = (lambda z: feature_matching_step(generator, self.discriminator, self.opt_g, z, next_real(),
                                                    self.precision)) if self.techniques.feature_matching else None
        stats = train_step(generator, self.discriminator, self.opt_g, self.opt_d, self.objective, next_real,
                           lambda n: self._noise(n, rng), self.optimiser.k_d_steps, None, rng, self.precision,
                           generator_update=matching).as_dict()
        if self.ema is not None:
            self.ema.update(unwrap(self.generator), progress.step)
        if self.techniques.noise_sigma > 0:
            stats["noise_sigma"] = sigma
        return stats
