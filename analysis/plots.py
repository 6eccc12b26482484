"""Figures (matplotlib, Agg backend): sample grids, 2-D scatters, training curves.

Every function writes a PNG and returns its path; nothing here needs a display
or a network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

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


def scatter_png(generated: np.ndarray, real: np.ndarray, modes: np.ndarray, path: Path, title: str = "") -> Path:
    """Generated vs real 2-D points with the mode centres marked."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:gray", alpha=0.3, label="real")
    ax.scatter(generated[:, 0], generated[:, 1], s=2, c="tab:blue", alpha=0.5, label="generated")
    ax.scatter(modes[:, 0], modes[:, 1], marker="x", c="tab:red", s=30, label="modes")
    span = np.abs(modes).max() * 1.5
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def curves_png(histories: Mapping[str, pd.DataFrame], columns: Sequence[str], path: Path, title: str,
               ylabel: str = "", logy: bool = False) -> Path:
    """One line per (variant, column); x is the training step."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for label, frame in histories.items():
        for column in columns:
            if column in frame and frame[column].notna().any():
                data = frame[["step", column]].dropna()
                name = label if len(columns) == 1 else f"{label}: {column}"
                ax.plot(data["step"], data[column], label=name, linewidth=1)
    ax.set_xlabel("generator step")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
