"""The truncation sweep in a dataset's section (Brock et al. 2019, Sec. 3.1 / Fig. 4): for every variant whose runs
were scored at several ψ (:mod:`pipeline.scoring.truncation_sweep`), one figure of FID and precision/recall against
ψ (mean over seeds, min–max band) and one table of the means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from analysis.plots import truncation_png
from analysis.report import Figure, Table

TITLE = "Truncation trick: fidelity vs variety"
COLUMNS = ("fid_clf", "precision_clf", "recall_clf", "class_acc")


def sweep_frames(results: dict[tuple[str, int], dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Per variant with a sweep, one row per seed and ψ (the payload's ``truncation`` rows with their seed)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for (variant, seed), result in results.items():
        rows.setdefault(variant, []).extend({"seed": seed, **row} for row in result.get("truncation", []))
    return {variant: pd.DataFrame(found).astype({"psi": float}) for variant, found in rows.items() if found}


def _mean_cell(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:.4g}"


def truncation_parts(dataset: str, results: dict[tuple[str, int], dict[str, Any]],
                     figures_dir: Path) -> tuple[list[Figure], list[Table]]:
    """The figure and the table of the section's sweeps; none when no run has one."""
    frames = sweep_frames(results)
    if not frames:
        return [], []
    path = truncation_png(frames, figures_dir / "truncation.png", f"{dataset}: {TITLE.lower()} (final checkpoint)")
    columns = [c for c in COLUMNS if any(c in frame for frame in frames.values())]
    rows = []
    for variant, frame in frames.items():
        means = frame.reindex(columns=["psi", "seed", *columns]).groupby("psi").agg(
            {"seed": "nunique", **dict.fromkeys(columns, "mean")})
        rows += [[variant, f"{psi:g}", str(int(row["seed"])), *(_mean_cell(row[c]) for c in columns)]
                 for psi, row in means.iterrows()]
    table = Table(f"{TITLE}: mean over seeds per ψ (final checkpoint; classifier features)",
                  ["variant", "ψ", "seeds", *(f"mean {c}" for c in columns)], rows)
    return [Figure(TITLE, path)], [table]
