"""``ganlab study-report``: the equal-budget study (:mod:`pipeline.tuning.study`) as ``study/report.{md,html}``
(figures in ``study/figures/``; the HTML embeds them).

Per variant: the distribution of the objective over its random samples (with how many trials diverged or
collapsed), the expected best objective as a function of the budget k (:mod:`analysis.budget_curve`, the
estimator behind Lucic et al. 2018's budget figures, with its spread), and the winner's settings. A trial
that measured nothing (it diverged before its first measurement) enters the budget curve as the worst
value, so that a variant whose budget draws such trials shows it.
"""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.budget_curve import BudgetPoint, budget_curve
from analysis.plots import budget_curves_png, distribution_png
from analysis.report import Figure, Report, SweepSection, Table, render
from models.families import get_variant
from pipeline.common.files import read_json, read_table
from pipeline.common.layout import tune_dir
from pipeline.config import Config
from pipeline.reporting.run_facts import duration, machine
from pipeline.tracking.git import git_commit
from pipeline.training.stop_rules import COMPLETED

log = logging.getLogger("ganlab.report")
FIX = "run `dvc repro study/dvc.yaml` (or `ganlab study`)"


def objective_values(trials: pd.DataFrame, metric: str, mode: str) -> dict[str, list[float]]:
    """Per variant (in trial order), each trial's best objective; a trial without one counts as the worst value."""
    worst = math.inf if mode == "min" else -math.inf
    column = trials[f"best_{metric}"].astype(float)
    return {variant: [worst if math.isnan(v) else v for v in column[trials["variant"] == variant]]
            for variant in dict.fromkeys(trials["variant"])}


def _settings(row: pd.Series, dimensions: list[str], variant: str) -> list[str]:
    """The winner's searched values; λ only where the variant has a gradient penalty."""
    shown = []
    for name in dimensions:
        if name == "gp_lambda" and get_variant(variant).regulariser != "gradient-penalty":
            shown.append("—")
        else:
            shown.append(f"{row[name]:.3g}" if isinstance(row[name], float) else str(row[name]))
    return shown


def _variant_table(trials: pd.DataFrame, values: dict[str, list[float]], curves: dict[str, list[BudgetPoint]],
                   metric: str) -> Table:
    header = ["variant", "trials", "completed", "diverged / collapsed / other", f"median {metric}", "E[best] k=1",
              f"E[best] k={max(1, len(next(iter(values.values()))) // 2)}", "best (k = all)"]
    rows = []
    for variant, vals in values.items():
        reasons = trials.loc[trials["variant"] == variant, "stop_reason"].value_counts().to_dict()
        diverged = reasons.pop("diverged", 0)
        collapsed = sum(reasons.pop(name, 0) for name in ("mode-collapse", "discriminator-wins"))
        completed = reasons.pop(COMPLETED, 0)
        finite = sorted(v for v in vals if math.isfinite(v))
        points = curves[variant]
        half = points[max(1, len(points) // 2) - 1]
        rows.append([variant, str(len(vals)), str(completed), f"{diverged} / {collapsed} / {sum(reasons.values())}",
                     f"{pd.Series(finite).median():.4g}" if finite else "—",
                     *(f"{p.mean:.4g} ± {p.std:.2g}" if math.isfinite(p.mean) else "∞ (k ≤ trials without a value)"
                       for p in (points[0], half)), f"{points[-1].mean:.4g}"])
    return Table("Per variant: trials and the expected best objective for a budget of k trials (mean ± std over "
                 "the k-subsets of its samples)", header, rows)


def _winners(trials: pd.DataFrame, dimensions: list[str], metric: str, mode: str) -> Table:
    header = ["variant", *dimensions, f"best {metric}", "at step", "trial", "MLflow run"]
    rows = []
    for variant in dict.fromkeys(trials["variant"]):
        measured = trials[(trials["variant"] == variant) & trials[f"best_{metric}"].notna()]
        if measured.empty:
            rows.append([variant, *("—" for _ in dimensions), "no trial measured it", "—", "—", "—"])
            continue
        row = measured.sort_values(f"best_{metric}", ascending=mode == "min").iloc[0]
        rows.append([variant, *_settings(row, dimensions, variant), f"{row[f'best_{metric}']:.4g}",
                     str(int(row["best_step"])), row["trial_id"], str(row["mlflow_run_id"])])
    return Table("Each variant's best trial and its settings", header, rows)


def study_section(summary: dict[str, Any], trials: pd.DataFrame, figures_dir: Path) -> SweepSection:
    metric, mode = summary["metric"], summary["mode"]
    dimensions = [name for name, _ in summary["space"]]
    values = objective_values(trials, metric, mode)
    curves = {variant: budget_curve(vals, mode) for variant, vals in values.items()}
    better = "lower" if mode == "min" else "higher"
    figures = [
        Figure(f"{metric} of every trial per variant ({better} is better)",
               distribution_png(values, metric, figures_dir / "study-distribution.png",
                                f"{summary['dataset']}: best {metric} of each trial")),
        Figure("Expected best objective against the budget k (band: ± one std over k-subsets)",
               budget_curves_png({v: [(p.k, p.mean, p.std) for p in points] for v, points in curves.items()}, metric,
                                 figures_dir / "study-budget.png", f"{summary['dataset']}: expected best {metric}")),
    ]
    per_variant = min(len(vals) for vals in values.values())
    facts = [
        ("protocol", f"equal budget (Lucic et al. 2018): {per_variant} random samples per variant of one space, "
                     f"{summary['steps']} steps each, {summary['scheduler']} scheduler; objective {metric} ({mode})"),
        ("space", ", ".join(f"{name} ({kind})" for name, kind in summary["space"])),
        ("compute", f"{summary['trials']} trials, {summary['trial_steps']} trial-steps, {duration(summary['wall_time_s'])}"),
        ("MLflow study run", f"{summary['parent_run_id']} (each trial a child run tagged with its variant)"),
    ]
    return SweepSection(f"Equal-budget study on {summary['dataset']}", facts, _winners(trials, dimensions, metric, mode),
                        figures, [_variant_table(trials, values, curves, metric)])


def study_report(config: Config) -> Path:
    """Render ``study/report.{md,html}`` from the study's outputs in ``study/``."""
    out = tune_dir("study")
    summary = read_json(out / "summary.json", "study summary", FIX)
    trials = read_table(out / "trials.csv", "study trials", FIX)
    figures_dir = out / "figures"
    shutil.rmtree(figures_dir, ignore_errors=True)
    figures_dir.mkdir(parents=True)
    facts = [("git commit", git_commit()), ("machine", machine()),
             ("variants", ", ".join(summary["variants"])), ("seed", str(summary["seed"]))]
    report = Report("ganlab study: GAN loss variants under an equal search budget", facts, [],
                    sweep=study_section(summary, trials, figures_dir))
    render(report, out / "report.md", out / "report.html")
    log.info("wrote %s and %s", out / "report.md", out / "report.html")
    return out / "report.html"
