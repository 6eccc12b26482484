"""The form the mode-collapse papers report the 2-D mixtures in (VEEGAN, Srivastava et al. 2017, Table 1; PacGAN,
Lin et al. 2018, Table 1): each metric's mean ± standard deviation over seeds, and the samples of each variant's best
seed side by side.

The standard deviation is the sample one (n − 1, ``statistics.stdev``; none with one seed). A value that is not
finite (the mode KL of a generator that misses a mode entirely is +∞) is left out of the mean and counted beside
it, so one collapsed seed neither hides nor turns the whole cell into ∞. The best seed is the one with the best
final headline metric (ties: the first seed), its samples the 2,500 points ``samples.png`` shows (the same fixed
noise), drawn again from the run's generator file -- absent where ``runs/`` is not in the checkout.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from analysis.plots import scatter_panels_png
from analysis.report import Figure, Table
from pipeline.common.layout import generators_file
from pipeline.data.store import PreparedData, load_prepared
from pipeline.datasets import get_dataset
from pipeline.scoring.sampling import load_sampler
from pipeline.training.export import SAMPLE_SEED

#: Points drawn per panel: what ``samples.png`` and VEEGAN's protocol draw.
PANEL_POINTS = 2500


def mean_and_spread(values: Sequence[float | None]) -> str:
    """``mean ± sd`` of the finite values, with how many were not (``—`` when none was measured)."""
    measured = [float(v) for v in values if v is not None]
    finite = [v for v in measured if math.isfinite(v)]
    if not measured:
        return "—"
    if not finite:
        return f"not finite ({len(measured)} of {len(measured)})"
    text = f"{statistics.fmean(finite):.4g}"
    if len(finite) > 1:
        text += f" ± {statistics.stdev(finite):.2g}"
    if len(finite) < len(measured):
        text += f" ({len(measured) - len(finite)} of {len(measured)} not finite)"
    return text


def spread_table(final: dict[str, dict[str, list]], metrics: Sequence[str]) -> Table:
    """One row per variant: each metric's :func:`mean_and_spread` over its seeds (final checkpoint)."""
    rows = [[variant, *(mean_and_spread(cells.get(metric, [])) for metric in metrics),
             str(max((len(cells.get(metric, [])) for metric in metrics), default=0))]
            for variant, cells in final.items()]
    return Table("Mean ± standard deviation over seeds (final checkpoint; sample standard deviation, n − 1; values "
                 "that are not finite counted apart), as VEEGAN's and PacGAN's tables report them",
                 ["variant", *metrics, "seeds"], rows)


def best_seeds(results: dict[tuple[str, int], dict[str, Any]], metric: str, mode: str) -> dict[str, tuple[int, float]]:
    """Each variant's seed with the best final ``metric`` (``mode`` "max" or "min"; not measured or not finite
    counts as worst; ties: the first seed) and its value."""
    def score(value: float | None) -> float:
        if value is None or not math.isfinite(value):
            return -math.inf
        return value if mode == "max" else -value

    best: dict[str, tuple[int, float]] = {}
    for (variant, seed), result in results.items():
        value = result["final"].get(metric)
        if variant not in best or score(value) > score(best[variant][1]):
            best[variant] = (seed, value)
    return best


def best_seed_figure(dataset: str, prepared: PreparedData, results: dict[tuple[str, int], dict[str, Any]],
                     metric: str, mode: str, figures_dir: Path) -> Figure | None:
    """The samples of each variant's best seed on ``metric``, one panel each (None without the generator files)."""
    panels = []
    for variant, (seed, value) in best_seeds(results, metric, mode).items():
        path = generators_file(dataset, variant, seed)
        if not path.is_file():
            return None
        sampler = load_sampler(torch.load(path, map_location="cpu", weights_only=True), "final")
        shown = "not measured" if value is None else f"{value:.4g}"
        panels.append((f"{variant} (seed {seed}): {metric} {shown}", sampler.draw(PANEL_POINTS, SAMPLE_SEED)))
    target = figures_dir / "best-seeds.png"
    scatter_panels_png(panels, prepared.train_x[:PANEL_POINTS], np.asarray(prepared.manifest["modes"]), target,
                       f"{dataset}: each variant's best seed on {metric}")
    return Figure(f"Each variant's best seed on {metric} (final checkpoint, {PANEL_POINTS} samples)", target)


def mixture_parts(dataset: str, results: dict[tuple[str, int], dict[str, Any]], final: dict[str, dict[str, list]],
                  metrics: Sequence[str], headline: str, mode: str,
                  figures_dir: Path | None) -> tuple[list[Figure], list[Table]]:
    """For a 2-D mixture (a dataset of points): the spread table, and the best seeds' samples on the
    ``headline`` metric (``mode`` "max" or "min") where the runs' files are here (``figures_dir`` None: they are
    not). Nothing for other data."""
    if get_dataset(dataset).kind != "points":
        return [], []
    figure = (best_seed_figure(dataset, load_prepared(dataset), results, headline, mode, figures_dir)
              if figures_dir is not None else None)
    return ([figure] if figure is not None else []), [spread_table(final, metrics)]
