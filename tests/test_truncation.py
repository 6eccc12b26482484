"""The truncation trick (models/truncation.py) against scipy's truncated normal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from models.truncation import truncated_normal


@pytest.mark.parametrize("psi", [0.5, 1.0, 2.0])
def test_truncated_noise_is_scipys_truncated_normal(psi):
    values = truncated_normal(4000, 5, psi, torch.Generator().manual_seed(0)).numpy().ravel()
    assert np.abs(values).max() <= psi
    reference = stats.truncnorm(-psi, psi)
    assert stats.kstest(values, reference.cdf).pvalue > 0.01  # a fixed seed: this draw, not luck
    assert values.std() == pytest.approx(reference.std(), rel=0.02)


def test_no_truncation_is_the_plain_normal_of_the_same_stream():
    torch.testing.assert_close(truncated_normal(8, 3, None, torch.Generator().manual_seed(1)),
                               torch.randn(8, 3, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="ψ must be > 0"):
        truncated_normal(2, 2, 0.0, torch.Generator())
