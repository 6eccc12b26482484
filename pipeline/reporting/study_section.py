"""The report's section on the equal-budget study (:mod:`pipeline.tuning.study`), from its outputs in ``study/``.

Every variant trained the same ``num_samples`` points of the space, each from ``seeds_per_sample`` seeds. A
point's objective for a variant is the mean over its seeds (a seed that measured nothing -- it diverged before
its first measurement -- makes it the worst value: a setting that fails in one restart is not a reliable one).
Per variant the section shows the distribution of the objective, the expected best for a budget of k points
(:mod:`analysis.budget_curve`: the exact average over k-subsets, with a bootstrap band over the points), the
compute each variant got (generator steps, discriminator steps = steps × k, wall time), and the winner's
settings. Because the points are shared, variants are compared point by point: Wilcoxon's exact signed-rank
test on the paired objectives (:mod:`analysis.rank_tests`), Holm-corrected; and Spearman's ρ between each
searched value and the objective says what the objective follows.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from analysis.budget_curve import BudgetPoint, budget_curve
from analysis.plots import budget_curves_png, distribution_png
from analysis.rank_tests import signed_rank_test
from analysis.report import Figure, SweepSection, Table
from analysis.significance import ALPHA, holm, oriented
from models.families import get_variant
from pipeline.common.files import CorruptFileError, read_json, read_table
from pipeline.common.layout import tune_dir
from pipeline.reporting.run_facts import duration
from pipeline.training.stop_rules import COMPLETED
from pipeline.tuning.space import POINT_KEY, SEED_KEY

FIX = "run `dvc repro study` (or `ganlab study`)"


def trial_objectives(trials: pd.DataFrame, metric: str, mode: str) -> pd.Series:
    """Each trial's best objective, a trial without one counting as the worst value (±inf)."""
    worst = math.inf if mode == "min" else -math.inf
    return trials[f"best_{metric}"].astype(float).fillna(worst)


def objective_values(trials: pd.DataFrame, metric: str, mode: str) -> dict[str, list[float]]:
    """Per variant, each shared point's objective in point order: the mean over its seeds (the worst value as
    soon as one seed has none)."""
    if POINT_KEY not in trials:
        raise CorruptFileError(f"the study's trials.csv has no `{POINT_KEY}` column (written before the points were "
                         f"shared): {FIX}")
    scored = trials.assign(objective=trial_objectives(trials, metric, mode))
    means = scored.groupby(["variant", POINT_KEY], sort=True)["objective"].mean()
    return {variant: [float(v) for v in means[variant].sort_index()] for variant in dict.fromkeys(trials["variant"])}


def _settings(row: pd.Series, dimensions: list[str], variant: str) -> list[str]:
    """The winner's searched values; λ only where the variant has a gradient penalty."""
    shown = []
    for name in dimensions:
        if name == "gp_lambda" and get_variant(variant).regulariser != "gradient-penalty":
            shown.append("—")
        else:
            shown.append(f"{row[name]:.3g}" if isinstance(row[name], float) else str(row[name]))
    return shown


def _band(point: BudgetPoint) -> str:
    if not math.isfinite(point.mean):
        return "∞ (k ≤ points without a value)"
    return f"{point.mean:.4g} [{point.low:.4g}, {point.high:.4g}]"


def _compute(trials: pd.DataFrame, variant: str) -> tuple[int, int, float]:
    """(generator steps, discriminator steps, wall seconds) of a variant's trials: D steps = steps × k per trial
    (k from the sample, else the variant's default)."""
    own = trials[trials["variant"] == variant]
    k = own["k_d_steps"] if "k_d_steps" in own else get_variant(variant).optimiser.k_d_steps
    return int(own["steps"].sum()), int((own["steps"] * k).sum()), float(own["time_s"].sum())


def _variant_table(trials: pd.DataFrame, values: dict[str, list[float]], curves: dict[str, list[BudgetPoint]],
                   metric: str) -> Table:
    half = max(1, len(next(iter(values.values()))) // 2)
    header = ["variant", "trials", "completed", "diverged / collapsed / other", f"median {metric}", "E[best] k=1",
              f"E[best] k={half}", "E[best] k = all", "G steps", "D steps", "wall time"]
    rows = []
    for variant, vals in values.items():
        reasons = trials.loc[trials["variant"] == variant, "stop_reason"].value_counts().to_dict()
        diverged = reasons.pop("diverged", 0)
        collapsed = sum(reasons.pop(name, 0) for name in ("mode-collapse", "discriminator-wins"))
        completed = reasons.pop(COMPLETED, 0)
        finite = sorted(v for v in vals if math.isfinite(v))
        points = curves[variant]
        g_steps, d_steps, wall = _compute(trials, variant)
        rows.append([variant, str(int((trials["variant"] == variant).sum())), str(completed),
                     f"{diverged} / {collapsed} / {sum(reasons.values())}",
                     f"{pd.Series(finite).median():.4g}" if finite else "—",
                     *(_band(p) for p in (points[0], points[half - 1], points[-1])),
                     f"{g_steps:,}", f"{d_steps:,}", duration(wall)])
    return Table("Per variant: trials, the expected best objective for a budget of k points (exact average over "
                 "the k-subsets of its points; [95 % bootstrap band over the points]) and the compute it got",
                 header, rows)


def _paired_comparisons(values: dict[str, list[float]], mode: str) -> tuple[Table, list[str]]:
    """Every pair of variants on the shared points: wins, Wilcoxon's exact signed-rank p, Holm-adjusted; and
    the pairs that differ at :data:`ALPHA`."""
    raw, wins = {}, {}
    for a, b in itertools.combinations(values, 2):
        x, y = oriented(values[a], mode), oriented(values[b], mode)
        raw[(a, b)] = signed_rank_test(x, y).p
        wins[(a, b)] = (sum(u < v for u, v in zip(x, y)), sum(u > v for u, v in zip(x, y)))
    adjusted = holm(raw) if raw else {}
    rows, differing = [], []
    for (a, b), p in raw.items():
        better = a if wins[(a, b)][0] > wins[(a, b)][1] else b
        rows.append([f"{a} vs {b}", f"{wins[(a, b)][0]} / {wins[(a, b)][1]}", f"{p:.3g}", f"{adjusted[(a, b)]:.3g}"])
        if adjusted[(a, b)] < ALPHA:
            differing.append(f"{better} beats {b if better == a else a} (Holm p = {adjusted[(a, b)]:.3g})")
    n = len(next(iter(values.values())))
    table = Table(f"Variants compared point by point on the {n} shared points (wins a / b; Wilcoxon's exact "
                  f"signed-rank test, two-sided; smallest reachable p = {min(1.0, 2 / 2 ** n):.2g})",
                  ["pair", "points won a / b", "p", "Holm p"], rows)
    return table, differing


def _drivers(trials: pd.DataFrame, dimensions: list[str], metric: str, mode: str) -> Table:
    """Spearman's ρ between each searched value and the trial's objective, over all trials (a trial without a
    value ranks worst)."""
    objective = trial_objectives(trials, metric, mode)
    rows = []
    for name in dimensions:
        if trials[name].nunique() < 2 or objective.nunique() < 2:
            rows.append([name, "—", "constant" if trials[name].nunique() < 2 else f"constant {metric}"])
            continue
        found = stats.spearmanr(trials[name].astype(float), objective)
        rows.append([name, f"{found.statistic:+.2f}", f"{found.pvalue:.2g}"])
    return Table(f"What the objective follows: Spearman's ρ between each searched value and {metric} over all "
                 f"{len(trials)} trials", ["setting", "ρ", "p"], rows)


def _seed_spread(trials: pd.DataFrame, metric: str, mode: str) -> str:
    """The restarts' share of the spread: the median |difference| between two seeds of one (point, variant)
    against that between two points of one variant."""
    scored = trials.assign(objective=trial_objectives(trials, metric, mode))
    scored = scored[scored["objective"].abs() != math.inf]
    within = scored.groupby(["variant", POINT_KEY])["objective"].agg(lambda v: v.max() - v.min() if len(v) > 1 else math.nan)
    means = scored.groupby(["variant", POINT_KEY])["objective"].mean()
    between = [abs(a - b) for variant in dict.fromkeys(scored["variant"])
               for a, b in itertools.combinations(means[variant], 2)]
    if within.dropna().empty or not between:
        return "one seed per point: no restarts to compare"
    return (f"median |difference| between the seeds of one point {within.dropna().median():.3g}, between two "
            f"points of one variant {pd.Series(between).median():.3g}")


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


def read_study() -> tuple[dict[str, Any], pd.DataFrame] | None:
    """(summary, trials) of the study, or None when none has run (``study/summary.json``)."""
    out = tune_dir("study")
    if not (out / "summary.json").is_file():
        return None
    return read_json(out / "summary.json", "study summary", FIX), read_table(out / "trials.csv", "study trials", FIX)


def study_section(summary: dict[str, Any], trials: pd.DataFrame, figures_dir: Path) -> SweepSection:
    metric, mode = summary["metric"], summary["mode"]
    dimensions = [name for name, _ in summary["space"]]
    values = objective_values(trials, metric, mode)
    curves = {variant: budget_curve(vals, mode) for variant, vals in values.items()}
    better = "lower" if mode == "min" else "higher"
    figures = [
        Figure(f"{metric} of every shared point per variant, mean over its seeds ({better} is better)",
               distribution_png(values, metric, figures_dir / "study-distribution.png",
                                f"{summary['dataset']}: best {metric} per point")),
        Figure("Expected best objective against the budget k (band: 95 % bootstrap over the points)",
               budget_curves_png({v: [(p.k, p.mean, p.low, p.high) for p in points] for v, points in curves.items()},
                                 metric, figures_dir / "study-budget.png", f"{summary['dataset']}: expected best {metric}")),
    ]
    comparisons, differing = _paired_comparisons(values, mode)
    points = len(next(iter(values.values())))
    seeds = trials[SEED_KEY].nunique() if SEED_KEY in trials else 1
    facts = [
        ("protocol", f"equal budget (Lucic et al. 2018): the same {points} random points of one space for every "
                     f"variant, each trained from {seeds} seed(s), {summary['steps']} steps, "
                     f"{summary['scheduler']} scheduler; objective {metric} ({mode}), a point's value the mean over its seeds"),
        ("finding", "; ".join(differing) if differing else
         f"no pair of variants differs on the shared points (Holm-corrected p ≥ {ALPHA} for every pair)"),
        ("restarts", _seed_spread(trials, metric, mode)),
        ("space", ", ".join(f"{name} ({kind})" for name, kind in summary["space"])),
        ("compute", f"{summary['trials']} trials, {summary['trial_steps']} trial-steps, {duration(summary['wall_time_s'])}"),
        ("MLflow study run", f"{summary['parent_run_id']} (each trial a child run tagged with its variant)"),
    ]
    tables = [_variant_table(trials, values, curves, metric), comparisons, _drivers(trials, dimensions, metric, mode),
              _winners(trials, dimensions, metric, mode)]
    return SweepSection(f"Equal-budget study on {summary['dataset']}", facts, tables, figures, anchor="study")
