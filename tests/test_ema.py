"""The EMA of G (models/ema.py): the formula, BigGAN's start step, StyleGAN2-ADA's ramp-up checked against its
own image-based expression, and standing BatchNorm statistics recomputed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models.ema import STANDING_BATCHES, STANDING_SEED, ExponentialMovingAverage, ema_decay_at


def test_ema_follows_the_formula():
    net = nn.Linear(2, 2)
    ema = ExponentialMovingAverage(net, decay=0.9)
    before = ema.module.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, step=3)
    torch.testing.assert_close(ema.module.weight, 0.9 * before + 0.1 * net.weight.detach())
    with pytest.raises(ValueError):
        ExponentialMovingAverage(net, decay=1.0)


def test_before_its_start_step_the_average_copies_g():
    """BigGAN-PyTorch's ``ema.update(itr)``: decay 0 while ``itr < ema_start``, then the decay."""
    net = nn.Linear(2, 2)
    ema = ExponentialMovingAverage(net, decay=0.9, start=5)
    for step in range(5):
        with torch.no_grad():
            net.weight.add_(1.0)
        ema.update(net, step)
        torch.testing.assert_close(ema.module.weight, net.weight.detach())
    before = ema.module.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, 5)
    torch.testing.assert_close(ema.module.weight, 0.9 * before + 0.1 * net.weight.detach())


@pytest.mark.parametrize("step", [0, 1, 10, 100, 3125, 10_000])
def test_the_ramp_up_is_stylegan2_adas_in_steps(step):
    """StyleGAN2-ADA (training_loop.py): ``ema_nimg = min(ema_kimg·1000, cur_nimg·ema_rampup)``, ``β = 0.5 **
    (batch / ema_nimg)``; with ``cur_nimg = step · batch`` and ``β₀ = 0.5 ** (batch / (ema_kimg·1000))`` it is the
    decay of step ``step``."""
    batch, ema_kimg, rampup = 64, 10.0, 0.05
    decay = 0.5 ** (batch / (ema_kimg * 1000))
    ema_nimg = min(ema_kimg * 1000, step * batch * rampup)
    expected = 0.5 ** (batch / ema_nimg) if ema_nimg > 0 else 0.0
    assert ema_decay_at(decay, step, rampup) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert ema_decay_at(decay, step, None) == decay
    assert ema_decay_at(decay, -1, rampup) == 0.0


def test_standing_statistics_come_from_the_averages_own_forward_passes():
    """Every BatchNorm layer of the average holds the cumulative mean of its batches' means and unbiased variances
    over the average's own forward passes (PyTorch's ``momentum=None``), recomputed here by hand, not G's."""
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, momentum=0.3))
    for _ in range(3):
        generator(torch.randn(16, 2) + 4.0)  # G's own running statistics, far from the average's
    ema = ExponentialMovingAverage(generator, decay=0.5)
    with torch.no_grad():
        generator[0].weight.mul_(3.0)
    ema.update(generator, step=1)
    assert ema.stale

    def draw(rng: torch.Generator) -> tuple[torch.Tensor]:
        return (torch.randn(32, 2, generator=rng),)

    module = ema.sampler(draw)
    rng = torch.Generator().manual_seed(STANDING_SEED)
    hidden = [ema.module[0](draw(rng)[0]).detach().numpy() for _ in range(STANDING_BATCHES)]
    bn = module[1]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([h.mean(axis=0) for h in hidden], axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([h.var(axis=0, ddof=1) for h in hidden], axis=0),
                               rtol=1e-5)
    assert bn.momentum == 0.3 and not module.training and not ema.stale
    assert not torch.allclose(bn.running_mean, generator[1].running_mean)
    assert ema.sampler(lambda rng: pytest.fail("fresh statistics are not recomputed")) is module


def test_buffers_other_than_batchnorm_statistics_are_copied_from_g():
    """E.g. spectral norm's power-iteration vector ``u``: G's own, not an average and not re-estimated."""
    generator = nn.utils.parametrizations.spectral_norm(nn.Linear(3, 3))
    ema = ExponentialMovingAverage(generator, decay=0.9)
    generator(torch.randn(4, 3))  # one power iteration moves u
    ema.update(generator, step=1)
    for (name, ema_buffer), buffer in zip(ema.module.named_buffers(), generator.buffers()):
        torch.testing.assert_close(ema_buffer, buffer, msg=name)
    assert not ema.stale, "no BatchNorm layer: nothing to re-estimate"
