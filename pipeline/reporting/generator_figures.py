"""Figures drawn from a run's trained generator for the report: latent walks for every family that samples from
noise (spherical interpolations between two latents, :mod:`analysis.latent_walk`; for a class-conditional
generator also one latent across the classes), and the figures a family draws of its own structure
(:class:`models.illustration.Illustrated`: a style-mixing grid, a growing G at every resolution, a stacked G's
stages), and a translation's inputs, outputs and targets (:mod:`.translation_figures`).

Every noise vector comes from :data:`FIGURE_SEED`, so the figures of one run are the same at every report and the
figures of two runs show the same latents. A run whose generator file is not in this checkout has no figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from analysis.latent_walk import slerp
from analysis.plots import labelled_grid_png
from analysis.report import Figure
from models.families import get_family
from models.family import DataSpec
from models.illustration import Illustrated, Illustration
from models.plain import from_plain
from pipeline.common.layout import generators_file
from pipeline.data.store import load_prepared
from pipeline.reporting.translation_figures import TRANSLATION_TASKS, translation_figure
from pipeline.scoring.sampling import Sampler, load_sampler

FIGURE_SEED = 1234
#: Latent pairs (rows) and points along each walk (columns).
WALK_ROWS, WALK_STEPS = 4, 8
#: At most this many classes across a class-conditional generator's rows (evenly spaced over the labels).
CLASS_COLUMNS = 10
WALK_TASKS = ("unconditional", "class-conditional")


def _generate(sampler: Sampler, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    conditions = {"y": labels} if labels is not None else {}
    return sampler.family.generate(sampler.module, z, conditions).float()


def latent_walk(sampler: Sampler, n_classes: int, rng: torch.Generator) -> Illustration:
    """:data:`WALK_ROWS` walks of :data:`WALK_STEPS` points from one latent to another (with ``n_classes`` K > 0, a
    class-conditional generator's, row ``r`` asks for class ``r mod K`` all along)."""
    family, dim = sampler.family, sampler.latent_dim
    start, end = family.sample_noise(WALK_ROWS, dim, rng), family.sample_noise(WALK_ROWS, dim, rng)
    path = slerp(start, end, torch.linspace(0.0, 1.0, WALK_STEPS))
    labels = (torch.arange(WALK_ROWS) % n_classes).repeat_interleave(WALK_STEPS) if n_classes else None
    images = _generate(sampler, path.reshape(WALK_ROWS * WALK_STEPS, dim), labels)
    rows = tuple(f"class {r % n_classes}" for r in range(WALK_ROWS)) if n_classes else ()
    return Illustration("walk", "Latent walk: slerp between two latents per row (White 2016)",
                        images.reshape(WALK_ROWS, WALK_STEPS, *images.shape[1:]), rows,
                        tuple(f"{t:.2f}" for t in np.linspace(0.0, 1.0, WALK_STEPS)))


def across_classes(sampler: Sampler, n_classes: int, rng: torch.Generator) -> Illustration:
    """One latent per row, the same across up to :data:`CLASS_COLUMNS` classes (evenly spaced over the labels)."""
    family, dim = sampler.family, sampler.latent_dim
    classes = np.unique(np.linspace(0, n_classes - 1, min(n_classes, CLASS_COLUMNS)).round().astype(int))
    z = family.sample_noise(WALK_ROWS, dim, rng).repeat_interleave(len(classes), dim=0)
    labels = torch.as_tensor(classes).repeat(WALK_ROWS)
    images = _generate(sampler, z, labels)
    return Illustration("classes", "One latent per row across the classes",
                        images.reshape(WALK_ROWS, len(classes), *images.shape[1:]),
                        tuple(f"z{r}" for r in range(WALK_ROWS)), tuple(str(c) for c in classes))


def illustrations(generators: dict) -> tuple[Illustration, ...]:
    """The latent walks and the family's own figures of a generator file's final main sampler (no noise, no
    figures: points, or a translation without a latent)."""
    sampler = load_sampler(generators, "final")
    data = from_plain(DataSpec, generators["data"])
    if data.kind != "images":
        return ()
    figures: list[Illustration] = []
    with torch.no_grad():
        rng = torch.Generator().manual_seed(FIGURE_SEED)
        if sampler.latent_dim and sampler.family.task in WALK_TASKS:
            conditional = sampler.family.task == "class-conditional"
            figures.append(latent_walk(sampler, data.n_classes if conditional else 0, rng))
            if conditional:
                figures.append(across_classes(sampler, data.n_classes, rng))
        if isinstance(sampler.family, Illustrated):
            figures.extend(sampler.family.illustrations(sampler.module, sampler.latent_dim, data, rng))
    return tuple(figures)


def generator_figures(dataset: str, variant: str, seed: int, figures_dir: Path) -> list[Figure]:
    """The figures of :func:`illustrations` for one run, and of a translation or super-resolution run its held-out
    inputs, outputs and targets (:mod:`.translation_figures`, from the prepared data), written to ``figures_dir``
    (none without its generator file)."""
    path = generators_file(dataset, variant, seed)
    if not path.is_file():
        return []
    generators = torch.load(path, map_location="cpu", weights_only=True)
    translated = (translation_figure(generators, load_prepared(dataset))
                  if get_family(generators["family"]).task in TRANSLATION_TASKS else None)
    figures = []
    for figure in (*illustrations(generators), *([translated] if translated is not None else [])):
        target = figures_dir / f"{figure.name}-{variant}-seed{seed}.png"
        labelled_grid_png(figure.images.numpy(), target, f"{dataset} · {variant} · seed {seed}: {figure.title}",
                          figure.row_labels, figure.column_labels)
        figures.append(Figure(f"{variant}, seed {seed}: {figure.title}", target))
    return figures
