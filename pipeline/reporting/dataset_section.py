"""One dataset's section of the report: the protocols, the final- and best-checkpoint tables (mean ± std over
seeds), the runs table, the training curves each family declares, the in-training metrics, and samples."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from analysis.plots import curves_png
from analysis.report import DatasetSection, Figure, MetricTable, Table
from models.families import family_of
from models.family import Curve
from pipeline.common.files import read_json, read_table
from pipeline.common.layout import metrics_file, run_dir, train_summary_file
from pipeline.config import Config
from pipeline.reporting.run_facts import RUN_HEADER, RunFiles, run_row
from pipeline.scoring.registry import direction, in_tables, is_metric, metric_order

#: Per table ("final", "best"): variant → column → per-seed values.
Tables = dict[str, dict[str, dict[str, list]]]


def read_run_files(config: Config, dataset: str) -> RunFiles:
    """Every run's ``metrics/…/seed<k>.json`` and ``train_summary.json``, read once."""
    files: RunFiles = {}
    for variant in config.benchmark.variants:
        for seed in config.benchmark.seeds:
            fix = "run `dvc repro evaluate`"
            files[variant, seed] = (read_json(metrics_file(dataset, variant, seed), "evaluation result", fix),
                                    read_json(train_summary_file(dataset, variant, seed), "training summary", fix))
    return files


def protocol_columns(results: Iterable[dict[str, Any]]) -> Callable[[dict[str, Any], str], str]:
    """Table column of a metric: its name, plus its protocol id where one name has several protocols.

    Numbers measured under different protocols (extractor, preprocessing,
    sample counts, seeds) never share a column.
    """
    ids: dict[str, set[str]] = {}
    for result in results:
        for name, family in result["metric_protocol"].items():
            ids.setdefault(name, set()).add(result["protocols"][family]["id"])

    def column(result: dict[str, Any], name: str) -> str:
        if len(ids[name]) == 1:
            return name
        return f"{name} [{result['protocols'][result['metric_protocol'][name]]['id']}]"

    return column


def _collect(results: dict[tuple[str, int], dict[str, Any]]) -> tuple[Tables, list[str], dict, list[str]]:
    """(tables, metric columns in order, protocols by id, notes on diverged generators)."""
    column = protocol_columns(results.values())
    tables: Tables = {"final": {}, "best": {}}
    names: list[str] = []
    protocols: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for (variant, seed), result in results.items():
        for family, protocol in result["protocols"].items():
            protocols[protocol["id"]] = {"family": family, **protocol}
        for which in tables:
            cells = tables[which].setdefault(variant, {})
            for name, value in result[which].items():
                if name not in result["metric_protocol"] or not in_tables(name):
                    continue
                name = column(result, name)
                if name not in names:
                    names.append(name)
                cells.setdefault(name, []).append(value)
            if result[which]["status"] != "ok":
                notes.append(f"{variant} seed {seed}: the {which} generator {result[which]['status']}.")
        tables["best"][variant].setdefault("best step", []).append(result["best"]["step"])
    return tables, sorted(names, key=metric_order), protocols, notes


def _curves(variants: Iterable[str]) -> list[Curve]:
    """The step-statistic figures the variants' families declare, each once, in declaration order."""
    curves: list[Curve] = []
    for variant in variants:
        curves += [curve for curve in family_of(variant).curves if curve not in curves]
    return curves


def _curve_figures(dataset: str, histories: dict[str, pd.DataFrame], figures_dir: Path) -> list[Figure]:
    figures = []
    for curve in _curves(histories):
        if any(c in frame and frame[c].notna().any() for frame in histories.values() for c in curve.columns):
            path = curves_png(histories, curve.columns, figures_dir / f"{curve.columns[0]}.png",
                              f"{dataset}: {curve.title}", curve.ylabel, curve.log)
            figures.append(Figure(curve.title, path))
    for column in sorted({col for frame in histories.values() for col in frame if is_metric(col)}):
        path = curves_png(histories, (column,), figures_dir / f"monitor-{column}.png",
                          f"{dataset}: in-training {column}", column)
        figures.append(Figure(f"In-training metric {column}", path))
    return figures


def dataset_section(config: Config, dataset: str, figures_dir: Path, run_files: RunFiles) -> DatasetSection:
    bench = config.benchmark
    results = {key: result for key, (result, _) in run_files.items()}
    tables, metric_names, protocols, notes = _collect(results)
    directions = {name: direction(name) for name in metric_names}
    metric_tables = [
        MetricTable("Final checkpoint", tables["final"], metric_names, directions),
        MetricTable("Best checkpoint (selected on the in-training metric: train.eval_samples samples against the "
                    "training-set statistics)", tables["best"],
                    metric_names + ["best step"], directions),
    ]
    histories, samples = {}, []
    for variant in bench.variants:
        first = run_dir(dataset, variant, bench.seeds[0])
        histories[variant] = read_table(first / "history.csv", "training history", "run `dvc repro train`")
        target = figures_dir / f"samples-{variant}.png"
        shutil.copy2(first / "samples.png", target)
        samples.append(Figure(f"{variant} (seed {bench.seeds[0]}, final)", target))
    seeds = ", ".join(map(str, bench.seeds))
    protocol_lines = [
        f"{p['family']} metrics [protocol {pid}]: " + ", ".join(f"{k}: {v}" for k, v in p.items() if k not in ("family", "id"))
        for pid, p in protocols.items()
    ] + [f"mean ± std over seeds [{seeds}]; curves and samples show seed {bench.seeds[0]}"]
    runs = [run_row(variant, seed, result, run_files[variant, seed][1]) for (variant, seed), result in results.items()]
    runs_table = Table(f"Runs (MLflow experiment {config.mlflow.experiment}; open them with `ganlab ui`)", RUN_HEADER, runs)
    return DatasetSection(dataset, protocol_lines, metric_tables, _curve_figures(dataset, histories, figures_dir), samples,
                          notes, runs_table)
