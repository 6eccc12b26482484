"""Figures of what a family's structure does, drawn from its trained main sampler: a style-mixing grid, the
samples of a growing G at every resolution, the stages of a stacked G side by side.

A family that draws such figures implements :class:`Illustrated` (its ``illustrations`` method); the report
draws them for each run it shows, beside the sample grid and the latent walks (which every family with noise
has, :mod:`analysis.latent_walk`). This is a capability of some families, not part of :class:`models.family.Family`:
a family module opts in by defining the method.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from models.family import DataSpec

ILLUSTRATION_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Illustration:
    """A labelled grid of images: ``images`` of shape (rows, columns, C, H, W) in the generator's range (the data's,
    [-1, 1]), a title, and optional row and column labels (as many as rows and columns). ``name`` is the figure's file
    stem."""

    name: str
    title: str
    images: Tensor
    row_labels: tuple[str, ...] = ()
    column_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not ILLUSTRATION_NAME.fullmatch(self.name):
            raise ValueError(f"illustration name {self.name!r} may hold letters, digits, - and _ only")
        if self.images.dim() != 5:
            raise ValueError(f"illustration {self.name!r} needs images of shape (rows, columns, C, H, W), got "
                             f"{tuple(self.images.shape)}")
        rows, columns = self.images.shape[:2]
        for labels, count, what in ((self.row_labels, rows, "row"), (self.column_labels, columns, "column")):
            if labels and len(labels) != count:
                raise ValueError(f"illustration {self.name!r} has {count} {what}s but {len(labels)} {what} labels")


@runtime_checkable
class Illustrated(Protocol):
    """A family that draws figures of its own structure."""

    def illustrations(self, sampler: nn.Module, latent_dim: int, data: DataSpec,
                      rng: torch.Generator) -> tuple[Illustration, ...]:
        """The family's figures of its trained main sampler ``sampler`` (the caller puts it in eval mode and under
        ``torch.no_grad``), every noise vector drawn from ``rng``; ``latent_dim`` as :meth:`Family.latent_dim`."""
        ...
