"""Golden numbers: the first losses of short seeded CPU trainings, computed once and pinned.

The determinism and resume tests compare the code with itself, so a change of the maths (a loss, the penalty, the
order of the noise and data draws, an optimiser's update) passes them; these numbers move. They depend on the
torch version only through float arithmetic (summation order, vectorised kernels): a few ulps, far inside rel 1e-4
(torch's seeded streams -- manual_seed, randn, the default initialisation of nn.Linear -- being stable). Regenerate
them, after a change of the maths that is intended, with

    PYTHONPATH=. python -c "from tests.test_golden_values import *; [print(n, first_losses(n)) for n in CASES]"

and paste the printed values, rounded to 5 significant digits, into GOLDEN.
"""

from __future__ import annotations

import pytest
import torch

from models.losses import LeastSquaresLoss, NonSaturatingLoss, WassersteinLoss
from models.networks import NetworkSpec, build_discriminator, build_generator
from models.regularisers import GradientPenalty
from models.step import Objective, build_optimiser, train_step

SPEC = NetworkSpec("mlp", (2,), z_dim=4, width=16, depth=2, d_norm="none")
#: name → (objective, optimiser, learning rate, Adam betas, k D steps per G step). LSGAN with Mao et al. (2017)'s
#: targets a = -1, b = 1, c = 0 (b - c = 1, b - a = 2), each distinct so that a target swapped for another moves the
#: losses; k = 2 for WGAN-GP, so that each D step's noise matters.
CASES = {
    "non-saturating": (Objective(NonSaturatingLoss()), "adam", 1e-3, (0.5, 0.999), 1),
    "wgan-gp": (Objective(WassersteinLoss(), GradientPenalty(weight=10.0)), "adam", 1e-3, (0.0, 0.9), 2),
    "lsgan-a-1-b1-c0": (Objective(LeastSquaresLoss(a=-1.0, b=1.0, c=0.0)), "adam", 1e-3, (0.5, 0.999), 1),
}


def first_losses(name: str, steps: int = 3) -> list[tuple[float, float]]:
    """(loss_d, loss_g) of the first ``steps`` iterations of ``train_step`` on an MLP, with seeded weights, real
    points N((1, 1), 0.1² I) and noise from one seeded stream, and the penalty's ε from another."""
    objective, optimiser, lr, betas, k = CASES[name]
    torch.manual_seed(0)
    g, d = build_generator(SPEC), build_discriminator(SPEC)
    opt_g, opt_d = (build_optimiser(optimiser, net.parameters(), lr, betas) for net in (g, d))
    draws, penalty_rng = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    losses = []
    for _ in range(steps):
        stats = train_step(g, d, opt_g, opt_d, objective, lambda: 1.0 + 0.1 * torch.randn(32, 2, generator=draws),
                           lambda n: torch.randn(n, 4, generator=draws), k, rng=penalty_rng)
        losses.append((stats.loss_d, stats.loss_g))
    return losses


#: (loss_d, loss_g) of iterations 1-3, computed with torch 2.14.1 on CPU.
GOLDEN = {
    "non-saturating": [(1.3665, 0.78756), (1.3631, 0.78284), (1.3581, 0.77829)],
    "wgan-gp": [(7.3027, 0.19141), (6.9797, 0.20253), (6.707, 0.20593)],
    "lsgan-a-1-b1-c0": [(0.97388, 0.016344), (0.96494, 0.014817), (0.9536, 0.013396)],
}


@pytest.mark.parametrize("name", CASES)
def test_the_first_losses_of_a_seeded_training_are_the_golden_ones(name):
    assert first_losses(name) == [pytest.approx(row, rel=1e-4) for row in GOLDEN[name]]
