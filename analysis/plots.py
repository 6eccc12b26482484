"""Figures (matplotlib, Agg backend): sample grids, 2-D scatters, training curves.

Every function writes a PNG and returns its path; nothing here needs a display
or a network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def image_grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] → one (rows·(H+1)+1, columns·(W+1)+1, C) array in [0, 1], 1-px borders."""
    n, channels, height, width = images.shape
    rows = -(-n // columns)
    grid = np.ones((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), dtype=np.float32)
    for i, image in enumerate(np.clip((images + 1.0) / 2.0, 0.0, 1.0)):
        r, c = divmod(i, columns)
        grid[1 + r * (height + 1) : (r + 1) * (height + 1), 1 + c * (width + 1) : (c + 1) * (width + 1)] = image.transpose(1, 2, 0)
    return grid


def sample_grid_png(images: np.ndarray, path: Path, title: str = "", columns: int = 8) -> Path:
    grid = image_grid(images, columns)
    fig, ax = plt.subplots(figsize=(4, 4 * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def _scatter(ax: plt.Axes, generated: np.ndarray, real: np.ndarray, modes: np.ndarray, title: str, legend: bool) -> None:
    """Generated vs real 2-D points with the mode centres marked, on one axes."""
    ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:gray", alpha=0.3, label="real")
    ax.scatter(generated[:, 0], generated[:, 1], s=2, c="tab:blue", alpha=0.5, label="generated")
    ax.scatter(modes[:, 0], modes[:, 1], marker="x", c="tab:red", s=30, label="modes")
    span = np.abs(modes).max() * 1.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    if legend:
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    if title:
        ax.set_title(title, fontsize=9)


def scatter_png(generated: np.ndarray, real: np.ndarray, modes: np.ndarray, path: Path, title: str = "") -> Path:
    """Generated vs real 2-D points with the mode centres marked."""
    fig, ax = plt.subplots(figsize=(4, 4))
    _scatter(ax, generated, real, modes, title, legend=True)
    return _save(fig, path)


def scatter_panels_png(panels: Sequence[tuple[str, np.ndarray]], real: np.ndarray, modes: np.ndarray, path: Path,
                       title: str = "", columns: int = 4) -> Path:
    """One :func:`scatter_png` panel per (title, generated points), side by side, the real points behind each."""
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    for ax, (panel_title, generated) in zip(axes.flat, panels):
        _scatter(ax, generated, real, modes, panel_title, legend=False)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def labelled_grid_png(images: np.ndarray, path: Path, title: str, row_labels: Sequence[str] = (),
                      column_labels: Sequence[str] = ()) -> Path:
    """A (rows, columns, C, H, W) grid of images in [-1, 1] with a label left of each row and above each column."""
    rows, columns = images.shape[:2]
    grid = image_grid(images.reshape(rows * columns, *images.shape[2:]), columns)
    height, width = images.shape[-2:]
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * columns, 0.8 + 0.55 * rows))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([1 + c * (width + 1) + width / 2 for c in range(columns)] if column_labels else [])
    ax.set_xticklabels(list(column_labels), fontsize=7)
    ax.xaxis.tick_top()
    ax.set_yticks([1 + r * (height + 1) + height / 2 for r in range(rows)] if row_labels else [])
    ax.set_yticklabels(list(row_labels), fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def changes(frame: pd.DataFrame, column: str) -> list[int]:
    """The steps at which ``column`` of a history takes a new value (a growing G's resolution, a stacked G's stage)."""
    if column not in frame:
        return []
    data = frame[["step", column]].dropna()
    moved = data[column].ne(data[column].shift()) & data[column].shift().notna()
    return data.loc[moved, "step"].astype(int).tolist()


def curves_png(histories: Mapping[str, pd.DataFrame], columns: Sequence[str], path: Path, title: str,
               ylabel: str = "", logy: bool = False, phase_columns: Sequence[str] = ()) -> Path:
    """One line per (variant, column); x is the training step. Where a history has one of ``phase_columns``, a dotted
    vertical line in the variant's colour marks each step at which it changes (the phase boundaries).

    A variant keeps its colour (its position in ``histories``) in every figure,
    also where earlier variants have no such column.
    """
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for index, (label, frame) in enumerate(histories.items()):
        for step in sorted({step for column in phase_columns for step in changes(frame, column)}):
            ax.axvline(step, color=f"C{index % 10}", linestyle=":", linewidth=0.8, alpha=0.7)
        for column, style in zip(columns, ("-", "--", ":", "-.")):
            if column in frame and frame[column].notna().any():
                data = frame[["step", column]].dropna()
                name = label if len(columns) == 1 else f"{label}: {column}"
                ax.plot(data["step"], data[column], style, color=f"C{index % 10}", label=name, linewidth=1)
    ax.set_xlabel("generator step")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def _log_scale_if_wide(ax: plt.Axes, values: pd.Series) -> None:
    """A log y axis for positive values spanning more than two decades (the FID of failed trials)."""
    values = values.dropna()
    if len(values) and values.min() > 0 and values.max() > 100 * values.min():
        ax.set_yscale("log")


#: Marker colour per reason a sweep trial ended (pipeline.stop_rules names them).
STOP_REASON_COLOURS = {"completed": "tab:green", "early-stopped": "tab:blue", "diverged": "tab:red",
                       "mode-collapse": "tab:purple", "discriminator-wins": "tab:orange", "error": "black"}


def sweep_scatter_png(trials: pd.DataFrame, dimensions: Mapping[str, str], objective: str, best_trial: str,
                      path: Path, title: str) -> Path:
    """The sweep's objective against each searched hyperparameter, one panel each.

    ``trials`` has a ``trial_id``, a ``stop_reason``, the ``objective`` column and
    one column per key of ``dimensions`` (name → ``loguniform`` | ``uniform`` |
    ``choice``); log-uniform axes are logarithmic, choices are categories.
    Points are coloured by why the trial ended; the winner is a star.
    """
    columns = min(3, len(dimensions))
    rows = -(-len(dimensions) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.9 * rows), squeeze=False, sharey=True)
    for ax, (name, kind) in zip(axes.flat, dimensions.items()):
        if kind == "choice":
            categories = sorted(trials[name].dropna().unique(), key=lambda v: (isinstance(v, str), v))
            positions = {value: i for i, value in enumerate(categories)}
            x = trials[name].map(positions).astype(float)
            ax.set_xticks(range(len(categories)), [str(c) for c in categories])
        else:
            x = trials[name].astype(float)
            if kind == "loguniform":
                ax.set_xscale("log")
        for reason, group in trials.groupby("stop_reason"):
            ax.scatter(x[group.index], group[objective], s=22, alpha=0.8, label=reason,
                       color=STOP_REASON_COLOURS.get(str(reason), "tab:gray"))
        winner = trials["trial_id"] == best_trial
        ax.scatter(x[winner], trials.loc[winner, objective], marker="*", s=220, facecolor="gold", edgecolor="black",
                   zorder=3, label="best trial")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    _log_scale_if_wide(axes[0, 0], trials[objective])  # the panels share y
    for ax in axes[:, 0]:
        ax.set_ylabel(objective)
    for ax in list(axes.flat)[len(dimensions):]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(title, fontsize=10, y=1.06)
    fig.tight_layout()
    return _save(fig, path)


def trial_curves_png(curves: pd.DataFrame, objective: str, best_trials: Sequence[str], path: Path, title: str) -> Path:
    """The objective of every sweep trial against its training step (``curves``: trial_id, step, objective).

    Trials that an early-stopping scheduler cut short end early; ``best_trials``
    are drawn in colour and labelled, the others in grey.
    """
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for trial_id, curve in curves.groupby("trial_id", sort=False):
        if trial_id in best_trials:
            continue
        ax.plot(curve["step"], curve[objective], color="tab:gray", alpha=0.45, linewidth=1, marker=".", markersize=3)
    for index, trial_id in enumerate(best_trials):
        curve = curves[curves["trial_id"] == trial_id]
        ax.plot(curve["step"], curve[objective], color=f"C{index % 10}", linewidth=1.8, marker="o", markersize=3,
                label=f"#{index + 1} {trial_id}")
    _log_scale_if_wide(ax, curves[objective])
    ax.set_xlabel("generator step")
    ax.set_ylabel(objective)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def distribution_png(values: Mapping[str, Sequence[float]], objective: str, path: Path, title: str) -> Path:
    """Per variant, the objective of every trial of an equal-budget study: a box (quartiles, 1.5 IQR whiskers)
    with the trials as points over it. Trials that measured nothing (diverged) are left out of the box."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(values), 3.4))
    names = list(values)
    finite = [[v for v in values[name] if np.isfinite(v)] for name in names]
    ax.boxplot([vals if vals else [np.nan] for vals in finite], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), [f"{name}\n(n={len(vals)})" for name, vals in zip(names, finite)],
                  fontsize=8)
    jitter = np.random.default_rng(0)
    for position, vals in enumerate(finite, start=1):
        ax.scatter(position + jitter.uniform(-0.12, 0.12, len(vals)), vals, s=16, alpha=0.75, color="tab:blue", zorder=3)
    _log_scale_if_wide(ax, pd.Series([v for vals in finite for v in vals], dtype=float))
    ax.set_ylabel(objective)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def budget_curves_png(curves: Mapping[str, Sequence[tuple[int, float, float, float]]], objective: str, path: Path,
                      title: str) -> Path:
    """Per variant, the expected best objective against the number of trials k (points ``(k, mean, low, high)``),
    with its bootstrap band where it is finite (Lucic et al. 2018, Fig. 4; :mod:`analysis.budget_curve`)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for index, (name, points) in enumerate(curves.items()):
        shown = [point for point in points if np.isfinite(point[1])]
        if not shown:
            continue
        k, mean, low, high = (np.array(column, dtype=float) for column in zip(*shown))
        ax.plot(k, mean, marker="o", markersize=3, color=f"C{index % 10}", label=name)
        banded = np.isfinite(low) & np.isfinite(high)
        ax.fill_between(k[banded], low[banded], high[banded], color=f"C{index % 10}", alpha=0.15)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("budget k (trials)")
    ax.set_ylabel(f"expected best {objective}")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def sensitivity_png(values: Mapping[str, Mapping[str, Sequence[float]]], objective: str, path: Path,
                    title: str) -> Path:
    """One line per variant through the median over seeds of each setting (x, in the given order), every seed's
    value as a point: how far a variant's result moves with the setting, and how far between seeds. Values that
    are not finite (never measured) are left out."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    settings = list(dict.fromkeys(setting for per_setting in values.values() for setting in per_setting))
    for index, (variant, per_setting) in enumerate(values.items()):
        colour = f"C{index % 10}"
        xs = [settings.index(s) + (index - len(values) / 2) * 0.03 for s in per_setting]
        finite = [[v for v in seeds if np.isfinite(v)] for seeds in per_setting.values()]
        ax.plot(xs, [float(np.median(seeds)) if seeds else np.nan for seeds in finite], "-", color=colour,
                label=variant, alpha=0.9)
        for x, seeds in zip(xs, finite):
            ax.scatter([x] * len(seeds), seeds, s=14, color=colour, alpha=0.6, zorder=3)
    ax.set_xticks(range(len(settings)), settings, fontsize=8)
    ax.set_ylabel(objective)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, path)


def truncation_png(sweeps: Mapping[str, pd.DataFrame], path: Path, title: str) -> Path:
    """The truncation trick's fidelity against variety (Brock et al. 2019, Fig. 4): per variant (``sweeps``: one
    row per seed and ψ, columns ``psi``, ``fid_clf``, ``precision_clf``, ``recall_clf``) the mean over seeds against
    ψ with the seeds' min–max band; FID on the left, precision (solid) and recall (dashed) on the right."""
    fig, (fid_ax, pr_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
    for index, (variant, frame) in enumerate(sweeps.items()):
        colour = f"C{index % 10}"
        for ax, column, style in ((fid_ax, "fid_clf", "-"), (pr_ax, "precision_clf", "-"), (pr_ax, "recall_clf", "--")):
            stats = frame.groupby("psi")[column].agg(["mean", "min", "max"]).dropna()
            ax.plot(stats.index, stats["mean"], style, marker="o", markersize=3, color=colour,
                    label=variant if ax is fid_ax else f"{variant}: {column.removesuffix('_clf')}")
            ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.15)
    fid_ax.set_ylabel("fid_clf (lower: closer to the data)")
    pr_ax.set_ylabel("precision (fidelity) / recall (variety)")
    pr_ax.set_ylim(-0.02, 1.02)
    for ax in (fid_ax, pr_ax):
        ax.set_xlabel("truncation ψ")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
