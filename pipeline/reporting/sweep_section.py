"""The report's sweep section, from the ``tune`` stage's outputs (``tune/summary.json``, ``trials.csv``,
``trial_curves.csv``): what was searched and how, the best trials, the objective against each
hyperparameter and over training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from analysis.plots import sweep_scatter_png, trial_curves_png
from analysis.report import Figure, SweepSection, Table
from pipeline.common.files import read_json, read_table
from pipeline.common.layout import tune_dir
from pipeline.reporting.run_facts import duration


FIX = "run `dvc repro tune` (or `ganlab tune`)"


def _read_sweep() -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame] | None:
    """(summary, trials, trial curves) of the sweep, or None when no sweep has run."""
    summary_file = tune_dir() / "summary.json"
    if not summary_file.is_file():
        return None
    summary = read_json(summary_file, "sweep summary", FIX)
    tables = {name: read_table(tune_dir() / f"{name}.csv", "sweep output", FIX) for name in ("trials", "trial_curves")}
    return summary, tables["trials"], tables["trial_curves"]


def _best_table(top: pd.DataFrame, dimensions: dict[str, str], metric: str) -> Table:
    objective = f"best_{metric}"
    header = ["rank", "trial", *dimensions, f"best {metric}", "at step", "ended", "MLflow run"]
    rows = [[str(rank), row["trial_id"], *(_value(row[name]) for name in dimensions), f"{row[objective]:.4g}",
             str(int(row["best_step"])), f"{row['stop_reason']} ({int(row['steps'])} steps)", str(row["mlflow_run_id"])]
            for rank, (_, row) in enumerate(top.iterrows(), start=1)]
    return Table("Best trials", header, rows)


def _sweep_figures(summary: dict[str, Any], ranked: pd.DataFrame, curves: pd.DataFrame, dimensions: dict[str, str],
             figures_dir: Path) -> list[Figure]:
    metric, mode = summary["metric"], summary["mode"]
    best_id = summary["best"]["trial_id"] if summary.get("best") else ""
    figures = []
    if dimensions and len(ranked):
        title = f"{summary['dataset']}: best {metric} of each trial ({'lower' if mode == 'min' else 'higher'} is better)"
        figures.append(Figure("Objective against each searched hyperparameter",
                              sweep_scatter_png(ranked, dimensions, f"best_{metric}", best_id,
                                                figures_dir / "objective-vs-hyperparameters.png", title)))
    if len(curves):
        figures.append(Figure("Objective over training, every trial (the best five in colour)",
                              trial_curves_png(curves, metric, list(ranked.head(5)["trial_id"]),
                                               figures_dir / "trial-curves.png", f"{summary['dataset']}: {metric} per trial")))
    return figures


def _facts(summary: dict[str, Any]) -> list[tuple[str, str]]:
    reasons = ", ".join(f"{n} {reason}" for reason, n in summary["stop_reasons"].items())
    return [
        ("dataset and variants", f"{summary['dataset']}: {', '.join(summary['variants'])}"),
        ("search", f"{summary['search']} search, {summary['scheduler']} scheduler, objective {summary['metric']} "
                   f"({summary['mode']})"),
        ("trials", f"{summary['trials']} ({reasons})"),
        ("compute", f"{summary['trial_steps']} trial-steps of a {summary['trials'] * summary['steps']} budget, "
                    f"{duration(summary['wall_time_s'])}"),
        ("MLflow sweep run", f"{summary['parent_run_id']} (trials are its child runs)"),
        ("winner", "retrain with `ganlab train --params tune/best_params.yaml`"),
    ]


def sweep_section(figures_dir: Path) -> tuple[SweepSection, dict[str, Any]] | None:
    """The ``tune`` stage's results, when a sweep has run (``tune/summary.json``)."""
    found = _read_sweep()
    if found is None:
        return None
    summary, trials, curves = found
    metric = summary["metric"]
    dimensions = dict(summary["space"])
    if len(summary["variants"]) > 1:
        dimensions["variant"] = "choice"
    ranked = trials.dropna(subset=[f"best_{metric}"]).sort_values(f"best_{metric}", ascending=summary["mode"] == "min")
    section = SweepSection("Hyperparameter sweep (Ray Tune)", _facts(summary), [_best_table(ranked.head(5), dimensions, metric)],
                           _sweep_figures(summary, ranked, curves, dimensions, figures_dir), anchor="sweep")
    return section, summary


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
