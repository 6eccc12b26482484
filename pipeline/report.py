"""The ``report`` stage: gather metrics, histories and samples into ``reports/benchmark.{md,html}``.

Figures are written to ``reports/figures/<dataset>/``; the HTML embeds them.
"""

from __future__ import annotations

import logging
import platform
import shutil
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from analysis.plots import curves_png
from analysis.report import DatasetSection, Figure, MetricTable, Report, render
from pipeline.config import Config, fingerprint
from pipeline.files import read_json
from pipeline.layout import REPORTS, metrics_file, run_dir
from pipeline.scoring import direction, in_tables, metric_order
from pipeline.tracking import git_commit
from pipeline.train_loop import METRIC_NAMES

log = logging.getLogger("ganlab.report")

#: (history column(s), figure title, y label, log scale)
CURVES = (
    (("loss_d",), "Discriminator loss", "L_D", False),
    (("loss_g",), "Generator loss", "L_G", False),
    (("d_real",), "D(x) on real data", "mean D(x)", False),
    (("d_fake",), "D(G(z)) on generated data", "mean D(G(z))", False),
    (("grad_norm_d",), "Discriminator gradient norm", "‖∇D‖", True),
    (("grad_norm_g",), "Generator gradient norm (vanishing gradients show here)", "‖∇G‖", True),
    (("wasserstein",), "Critic's Wasserstein estimate (WGAN variants)", "E[D(x)] − E[D(G(z))]", False),
)


def _fix(dataset: str, variant: str, seed: int) -> str:
    return f"run `dvc repro evaluate@{dataset}-{variant}-{seed}`"


def _section(config: Config, dataset: str, figures_dir: Path) -> DatasetSection:
    bench = config.benchmark
    tables: dict[str, dict[str, dict[str, list]]] = {"final": {}, "best": {}}
    metric_names: list[str] = []
    protocols: dict[str, dict[str, Any]] = {}  # protocol id → protocol
    results = {(variant, seed): read_json(metrics_file(dataset, variant, seed), "evaluation result",
                                          _fix(dataset, variant, seed))
               for variant in bench.variants for seed in bench.seeds}
    column = _columns(results.values())
    histories: dict[str, pd.DataFrame] = {}
    samples: list[Figure] = []
    notes: list[str] = []
    for variant in bench.variants:
        for which in tables:
            tables[which][variant] = {}
        for seed in bench.seeds:
            result = results[variant, seed]
            for family, protocol in result["protocols"].items():
                protocols[protocol["id"]] = {"family": family, **protocol}
            for which in tables:
                for name, value in result[which].items():
                    if name not in result["metric_protocol"] or not in_tables(name):
                        continue
                    name = column(result, name)
                    if name not in metric_names:
                        metric_names.append(name)
                    tables[which][variant].setdefault(name, []).append(value)
                if result[which]["status"] != "ok":
                    notes.append(f"{variant} seed {seed}: the {which} generator {result[which]['status']}.")
            tables["best"][variant].setdefault("best step", []).append(result["best"]["step"])
        first = run_dir(dataset, variant, bench.seeds[0])
        histories[variant] = pd.read_csv(first / "history.csv")
        target = figures_dir / f"samples-{variant}.png"
        shutil.copy2(first / "samples.png", target)
        samples.append(Figure(f"{variant} (seed {bench.seeds[0]}, final)", target))
    metric_names.sort(key=metric_order)
    directions = {name: direction(name) for name in metric_names}
    metric_tables = [
        MetricTable("Final checkpoint", tables["final"], metric_names, directions),
        MetricTable("Best checkpoint (chosen by the in-training metric)", tables["best"],
                    metric_names + ["best step"], directions),
    ]
    figures = []
    for columns, title, ylabel, logy in CURVES:
        if any(c in frame and frame[c].notna().any() for frame in histories.values() for c in columns):
            path = curves_png(histories, columns, figures_dir / f"{columns[0]}.png", f"{dataset}: {title}", ylabel, logy)
            figures.append(Figure(title, path))
    for column in sorted({col for frame in histories.values() for col in frame if col not in _STEP_COLUMNS}):
        path = curves_png(histories, (column,), figures_dir / f"monitor-{column}.png",
                          f"{dataset}: in-training {column}", column)
        figures.append(Figure(f"In-training metric {column}", path))
    seeds = ", ".join(map(str, bench.seeds))
    protocol_lines = [
        f"{p['family']} metrics [protocol {pid}]: " + ", ".join(f"{k}: {v}" for k, v in p.items() if k not in ("family", "id"))
        for pid, p in protocols.items()
    ] + [f"mean ± std over seeds [{seeds}]; curves and samples show seed {bench.seeds[0]}"]
    return DatasetSection(dataset, protocol_lines, metric_tables, figures, samples, notes)


def _columns(results) -> Callable[[dict[str, Any], str], str]:
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


#: History columns that are step statistics; the remaining ones are in-training metrics.
_STEP_COLUMNS = set(METRIC_NAMES) | {"step"}


def report(config: Config) -> Path:
    figures_root = REPORTS / "figures"
    if figures_root.exists():
        shutil.rmtree(figures_root)
    sections = []
    for dataset in config.benchmark.datasets:
        directory = figures_root / dataset
        directory.mkdir(parents=True)
        sections.append(_section(config.for_dataset(dataset), dataset, directory))
        log.info("report: %s done", dataset)
    facts = [
        ("git commit", git_commit()),
        ("params hash", fingerprint(config.to_dict())[:16]),
        ("hardware", f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}"),
        ("variants", ", ".join(config.benchmark.variants)),
    ]
    report_data = Report("ganlab benchmark: GAN loss variants compared", facts, sections)
    render(report_data, REPORTS / "benchmark.md", REPORTS / "benchmark.html")
    log.info("wrote %s and %s", REPORTS / "benchmark.md", REPORTS / "benchmark.html")
    return REPORTS / "benchmark.html"
