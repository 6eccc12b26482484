"""Stream images through a feature extractor in batches -- the one helper every metric shares.

A *source* is either an array of images (a dataset) or a callable
``batch(n) -> images`` (a generator); :func:`stream_features` pulls ``n``
images from it in batches, checks each batch (shape, finiteness), runs the
extractor and returns the stacked features with their :class:`FeatureStats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
import torch
from torch import Tensor

from analysis.frechet import FeatureStats
from analysis.progress import progress

Images = Union[np.ndarray, Tensor]
Source = Union[Images, Callable[[int], Images]]


class FeatureInputError(ValueError):
    """Images that cannot be measured: wrong shape, NaN/inf, too few."""


@dataclass(frozen=True)
class FeatureSet:
    """N feature vectors of one set of images (kept: KID and precision/recall need them)."""

    features: np.ndarray

    @property
    def n(self) -> int:
        return len(self.features)

    def stats(self) -> FeatureStats:
        return FeatureStats.of(self.features)


def _batches(source: Source, n: int, batch_size: int):
    if callable(source):
        drawn = 0
        while drawn < n:
            batch = source(min(batch_size, n - drawn))
            drawn += len(batch)
            yield batch
        return
    if len(source) < n:
        raise FeatureInputError(f"asked for {n} images but the source holds only {len(source)}")
    for start in range(0, n, batch_size):
        yield source[start : min(start + batch_size, n)]


def check_images(batch: Tensor, channels: tuple[int, ...] = (1, 3)) -> Tensor:
    """A float or uint8 (B, C, H, W) batch with C in ``channels`` and only finite values, else an error."""
    if batch.ndim != 4 or batch.shape[1] not in channels:
        raise FeatureInputError(f"images must be (N, C, H, W) with C in {channels}, got shape {tuple(batch.shape)}")
    if batch.is_floating_point() and not torch.isfinite(batch).all():
        raise FeatureInputError("images contain NaN or inf (a diverged generator?)")
    return batch


@torch.inference_mode()
def stream_features(extract: Callable[[Tensor], Tensor], source: Source, n: int, batch_size: int,
                    description: str | None = None) -> FeatureSet:
    """Features of ``n`` images of ``source``, ``batch_size`` at a time (inference mode).

    With a ``description``, a progress bar (for long passes such as Inception's).
    """
    if n < 1:
        raise FeatureInputError(f"need at least one image, got n={n}")
    chunks = []
    with progress(total=n, description=description or "", unit="img", enabled=description is not None) as bar:
        for batch in _batches(source, n, batch_size):
            features = extract(check_images(torch.as_tensor(batch)))
            chunks.append(features.float().cpu().numpy())
            bar.update(len(batch))
    return FeatureSet(np.concatenate(chunks)[:n])
