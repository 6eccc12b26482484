"""The report's section on how a dataset's settings were chosen: the committed sweep in
``benchmarks/<dataset>_sweep/seed<k>/`` (one ``ganlab tune`` per seed; :func:`pipeline.common.layout.selection_dir`).

Per variant and searched setting it shows the sweep objective of every seed (the best value a trial measured) and
their median, the mean over variants and seeds per setting, and a figure of the objective against the setting:
the learning-rate sensitivity behind the dataset's overrides. It says which seeds chose the settings and whether
the benchmark reports on the same ones (then its numbers on them are in-sample).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from analysis.plots import sensitivity_png
from analysis.report import Figure, SweepSection, Table
from pipeline.common.files import CorruptFileError, read_json, read_table
from pipeline.common.layout import selection_dir
from pipeline.reporting.run_facts import duration

#: variant → setting label → the sweep objective of each seed that tried it (seed order; NaN: never measured).
Sensitivity = dict[str, dict[str, list[float]]]


def read_selection(dataset: str) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """(summary, trials) of each seed's sweep in the dataset's selection folder, in seed order; [] without one."""
    folder = selection_dir(dataset)
    fix = f"re-run the sweep its params file names (e.g. {folder}.yaml) or remove {folder}"
    found = []
    for seed_dir in sorted(folder.glob("seed*"), key=lambda path: path.name):
        summary = read_json(seed_dir / "summary.json", "settings-selection summary", fix)
        found.append((summary, read_table(seed_dir / "trials.csv", "settings-selection trials", fix)))
    objectives = {(summary["dataset"], summary["metric"], summary["mode"], summary["steps"]) for summary, _ in found}
    if len(objectives) > 1:
        raise CorruptFileError(f"the sweeps in {folder} do not share one dataset, objective and budget "
                               f"({sorted(map(str, objectives))}): they cannot be compared; {fix}")
    return sorted(found, key=lambda pair: pair[0]["seed"])


def setting_label(row: pd.Series, dimensions: Sequence[str]) -> str:
    return ", ".join(f"{name} {row[name]:g}" if isinstance(row[name], float) else f"{name} {row[name]}"
                     for name in dimensions)


def sensitivity(sweeps: list[tuple[dict[str, Any], pd.DataFrame]]) -> tuple[Sensitivity, dict[str, list[int]]]:
    """(the objective per variant, setting and seed; the seeds that tried each setting). Settings are ordered by
    their values, variants as the first sweep lists them."""
    dimensions = list(dict.fromkeys(name for summary, _ in sweeps for name, _ in summary["space"]))
    metric = sweeps[0][0]["metric"]
    frames = [trials.assign(seed=summary["seed"]) for summary, trials in sweeps]
    trials = pd.concat(frames, ignore_index=True).sort_values([*dimensions, "seed"], kind="stable")
    trials["setting"] = [setting_label(row, dimensions) for _, row in trials.iterrows()]
    settings = list(dict.fromkeys(trials["setting"]))
    seeds = {setting: sorted(set(trials.loc[trials["setting"] == setting, "seed"])) for setting in settings}
    values: Sensitivity = {}
    for variant in sweeps[0][0]["variants"]:
        own = trials[trials["variant"] == variant] if "variant" in trials else trials  # a one-variant sweep has none
        values[variant] = {setting: [float(v) for v in own.loc[own["setting"] == setting, f"best_{metric}"]]
                           for setting in settings if (own["setting"] == setting).any()}
    return values, seeds


def _cell(values: list[float]) -> str:
    shown = " / ".join("—" if math.isnan(v) else f"{v:.3g}" for v in values)
    finite = [v for v in values if not math.isnan(v)]
    if len(values) == 1 or not finite:
        return shown
    return f"{pd.Series(finite).median():.3g} ({shown})"


def _table(values: Sensitivity, seeds: dict[str, list[int]], metric: str, mode: str) -> Table:
    settings = list(seeds)
    header = ["variant", *(f"{s}: seeds {' / '.join(map(str, seeds[s]))}" for s in settings)]
    rows = [[variant, *(_cell(per_setting[s]) if s in per_setting else "—" for s in settings)]
            for variant, per_setting in values.items()]
    means = []
    for setting in settings:
        pooled = [v for per_setting in values.values() for v in per_setting.get(setting, []) if not math.isnan(v)]
        means.append(f"{sum(pooled) / len(pooled):.3g}" if pooled else "—")
    rows.append(["mean over variants and seeds", *means])
    better = "lower" if mode == "min" else "higher"
    return Table(f"Best {metric} of each trial ({better} is better): median over seeds (each seed's value)",
                 header, rows)


def seeds_note(sweeps: list[tuple[dict[str, Any], pd.DataFrame]], benchmark_seeds: Sequence[int]) -> str:
    """Which seeds chose the settings, and whether the benchmark reports on them (in-sample) or not."""
    used = sorted({summary["seed"] for summary, _ in sweeps})
    overlap = sorted(set(used) & set(benchmark_seeds))
    if overlap:
        return (f"the selection used seeds {', '.join(map(str, used))}; {', '.join(map(str, overlap))} of them "
                f"are also in the benchmark, whose numbers on them are in-sample")
    return (f"the selection used seeds {', '.join(map(str, used))}; the benchmark reports seeds "
            f"{', '.join(map(str, benchmark_seeds))}, none of which the selection saw")


def selection_section(dataset: str, sweeps: list[tuple[dict[str, Any], pd.DataFrame]], benchmark_seeds: Sequence[int],
                      settings_in_use: str, figures_dir: Path) -> SweepSection:
    """The dataset's settings selection from its sweeps (:func:`read_selection`, not empty)."""
    first = sweeps[0][0]
    metric, mode = first["metric"], first["mode"]
    values, seeds = sensitivity(sweeps)
    dimensions = ", ".join(dict.fromkeys(name for summary, _ in sweeps for name, _ in summary["space"]))
    facts = [
        ("what", f"`ganlab tune` on {dataset} over {dimensions} for {len(first['variants'])} variants, "
                 f"{first['steps']:,} steps per trial, objective {metric} ({mode}); one sweep per seed, "
                 f"committed in {selection_dir(dataset)}/seed<k>/"),
        ("seeds", seeds_note(sweeps, benchmark_seeds)),
        ("settings in use", settings_in_use),
        ("compute", f"{sum(s['trials'] for s, _ in sweeps)} trials, "
                    f"{duration(sum(s['wall_time_s'] for s, _ in sweeps))}"),
        ("MLflow sweep runs", ", ".join(summary["parent_run_id"] for summary, _ in sweeps)),
    ]
    figure = Figure(f"{metric} against the searched settings: the median over seeds per variant, every seed a point",
                    sensitivity_png(values, metric, figures_dir / f"{dataset}-selection.png",
                                    f"{dataset}: best {metric} per trial"))
    return SweepSection(f"How {dataset}'s settings were chosen", facts, [_table(values, seeds, metric, mode)],
                        [figure], anchor=f"{dataset}-settings")
