"""Inception Score (Salimans et al. 2016): ``exp(E_x KL(p(y|x) ‖ p(y)))``, mean ± std over splits.

``p(y|x)`` is the softmax of a classifier's logits (Inception's, or the
domain classifier's -- the caller labels which); the N samples are split into
``splits`` consecutive chunks (10 in the paper), ``p(y)`` is the mean of
``p(y|x)`` within a chunk, and the score is computed per chunk. As in
torch-fidelity, the samples are first permuted with ``RandomState(seed)``;
the std is over chunks (ddof=0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax


@dataclass(frozen=True)
class InceptionScore:
    mean: float
    std: float
    splits: int


def inception_score(logits: np.ndarray, splits: int = 10, seed: int = 2020) -> InceptionScore:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or len(logits) < splits:
        raise ValueError(f"need (N, classes) logits with N >= splits={splits}, got shape {logits.shape}")
    logits = logits[np.random.RandomState(seed).permutation(len(logits))]
    log_p = log_softmax(logits, axis=1)
    n = len(logits)
    scores = []
    for i in range(splits):
        chunk = log_p[i * n // splits : (i + 1) * n // splits]
        log_marginal = np.log(np.exp(chunk).mean(axis=0, keepdims=True))
        kl = (np.exp(chunk) * (chunk - log_marginal)).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return InceptionScore(float(np.mean(scores)), float(np.std(scores)), splits)
