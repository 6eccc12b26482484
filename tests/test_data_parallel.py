"""Data-parallel SGD by definition: the GAN step on 2 DDP workers × batch b equals 1 process × batch 2b.

Two real ``torch.distributed`` processes (gloo) run :func:`models.step.train_step` with both nets in
``DistributedDataParallel``, as ``ray.train.torch.prepare_model`` wraps them; worker r gets rows
``[r·b, (r+1)·b)`` of fixed global real batches and noise. DDP averages gradients over the workers, and
each loss is a mean over its batch, so every update equals the single process's update on the whole
global batch (Goyal et al. 2017, Sec. 2), up to float summation order. Ray Train's part (both nets
wrapped, workers on several nodes) is tested in tests/integration/test_distributed.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from models.families import get_variant
from models.losses import build_loss
from models.networks import NetworkSpec, build_discriminator, build_generator
from models.step import Objective, train_step

pytestmark = pytest.mark.slow

SPEC = NetworkSpec("mlp", (2,), z_dim=4, width=16, depth=2, d_norm="none")
WORLD, BATCH, STEPS, K = 2, 8, 4, 2  # workers, per-worker batch, iterations, D steps per iteration


def _global_batches() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    data = torch.Generator().manual_seed(11)
    reals = [torch.randn(WORLD * BATCH, 2, generator=data) for _ in range(STEPS * K)]
    noise = [torch.randn(WORLD * BATCH, SPEC.z_dim, generator=data) for _ in range(STEPS * (K + 1))]
    return reals, noise


def _train(variant: str, rows: slice, wrap) -> dict[str, torch.Tensor]:
    """STEPS iterations on ``rows`` of the global batches; returns G's and D's final weights."""
    torch.manual_seed(0)
    generator, discriminator = wrap(build_generator(SPEC)), wrap(build_discriminator(SPEC))
    objective = Objective(build_loss(get_variant(variant).loss.name))
    # SGD: the update is the (averaged) gradient itself; Adam's g/√v would blow float-order noise on near-zero
    # gradients up to ±lr and hide what is being tested.
    opt_g = torch.optim.SGD(generator.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(discriminator.parameters(), lr=0.1)
    reals, noise = _global_batches()
    real_batches, noise_batches = iter(r[rows] for r in reals), iter(z[rows] for z in noise)
    for _ in range(STEPS):
        train_step(generator, discriminator, opt_g, opt_d, objective, lambda: next(real_batches),
                   lambda n: next(noise_batches), K)
    bare = [getattr(net, "module", net) for net in (generator, discriminator)]
    return {f"{name}.{key}": value.detach().clone() for name, net in zip("gd", bare)
            for key, value in net.state_dict().items()}


def _ddp_worker(rank: int, store: str, variant: str, out: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        weights = _train(variant, slice(rank * BATCH, (rank + 1) * BATCH), torch.nn.parallel.DistributedDataParallel)
        torch.save(weights, Path(out) / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize("variant", ["non-saturating", "lsgan", "hinge"])
def test_two_ddp_workers_equal_one_process_on_the_global_batch(variant, tmp_path):
    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), variant, str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    single = _train(variant, slice(0, WORLD * BATCH), wrap=lambda module: module)
    with torch.no_grad():
        torch.manual_seed(0)
        initial = {f"{n}.{k}": v for n, net in zip("gd", (build_generator(SPEC), build_discriminator(SPEC)))
                   for k, v in net.state_dict().items()}
    trained = [key for key, value in ranks[0].items() if not torch.equal(value, initial[key])]
    assert {key[0] for key in trained} == {"g", "d"} and len(trained) >= len(initial) - 1, "both nets trained"
    for key, value in ranks[0].items():
        assert torch.equal(value, ranks[1][key]), f"{key}: the workers' replicas drifted apart"
        torch.testing.assert_close(value, single[key], rtol=1e-5, atol=1e-6)
