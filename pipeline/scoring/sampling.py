"""Drawing samples for evaluation: a family's sampling network, fixed seeded noise, and the task's conditions
(:mod:`pipeline.scoring.conditions`).

Every measurement draws its noise from its own seeded RNG (the in-training monitor, evaluation and the
sample figures each have a fixed seed), so successive scores of one run are comparable and a score can
be reproduced from the generator file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.families import get_family
from models.family import DataSpec, Family
from models.plain import from_plain

#: Noise seed of evaluation samples (fixed, recorded in the protocol).
EVAL_SEED = 2024


@dataclass
class Sampler:
    """A family's sampling network (e.g. the EMA of G) with what drawing from it needs."""

    family: Family
    module: nn.Module
    latent_dim: int

    @torch.no_grad()
    def draw(self, n: int, seed: int, batch_size: int = 500, device: torch.device | str = "cpu",
             conditions: dict[str, np.ndarray] | None = None, options: Any = None) -> np.ndarray:
        """``n`` samples from fixed noise (its own seeded RNG) with the family's sampling ``options`` (None: its
        defaults), the network in eval mode; float32 numpy."""
        rng = torch.Generator().manual_seed(seed)
        was_training = self.module.training
        self.module.eval()
        try:
            chunks = []
            for start in range(0, n, batch_size):
                size = min(batch_size, n - start)
                z = self.family.sample_noise(size, self.latent_dim, rng, options).to(device)
                batch = {key: torch.as_tensor(values[start : start + size]).to(device)
                         for key, values in (conditions or {}).items()}
                chunks.append(self.family.generate(self.module, z, batch, options).float().cpu())
        finally:
            self.module.train(was_training)
        return torch.cat(chunks).numpy()


def load_sampler(generators: dict[str, Any], which: str, name: str | None = None) -> Sampler:
    """Sampler ``name`` (None: the family's main one) at its ``final`` or ``best`` weights, from a generator file
    (``runs/…/model/generators.pt``)."""
    family = get_family(generators["family"])
    settings = family.settings_from_dict(generators["settings"])
    name = name or family.sampler_names()[0]
    module = family.build_sampler(settings, from_plain(DataSpec, generators["data"]), name)
    module.load_state_dict(generators[which][name])
    return Sampler(family, module.eval(), family.latent_dim(settings))
