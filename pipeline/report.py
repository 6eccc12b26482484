"""The ``report`` stage: gather metrics, histories, samples, run facts and the sweep into ``reports/benchmark.{md,html}``.

Figures are written to ``reports/figures/<dataset>/`` (and ``reports/figures/sweep/``);
the HTML embeds them. Run facts: git commit, params hash, the machine, wall time
per stage, and per training its MLflow run, Ray workers and global batch.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from analysis.plots import curves_png, sweep_scatter_png, trial_curves_png
from analysis.report import DatasetSection, Figure, MetricTable, Report, SweepSection, Table, render
from pipeline.config import Config, fingerprint
from pipeline.files import read_json
from pipeline.layout import REPORTS, metrics_file, run_dir, stage_time_file, tune_dir
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


#: Per (variant, seed) of one dataset: its evaluation result and its training summary.
RunFiles = dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any]]]


def _run_files(config: Config, dataset: str) -> RunFiles:
    """Read every run's ``metrics/…/seed<k>.json`` and ``train_summary.json`` once."""
    files: RunFiles = {}
    for variant in config.benchmark.variants:
        for seed in config.benchmark.seeds:
            fix = _fix(dataset, variant, seed)
            files[variant, seed] = (read_json(metrics_file(dataset, variant, seed), "evaluation result", fix),
                                    read_json(run_dir(dataset, variant, seed) / "train_summary.json", "training summary", fix))
    return files


def _section(config: Config, dataset: str, figures_dir: Path, run_files: RunFiles) -> DatasetSection:
    bench = config.benchmark
    tables: dict[str, dict[str, dict[str, list]]] = {"final": {}, "best": {}}
    metric_names: list[str] = []
    protocols: dict[str, dict[str, Any]] = {}  # protocol id → protocol
    results = {key: result for key, (result, _) in run_files.items()}
    column = _columns(results.values())
    histories: dict[str, pd.DataFrame] = {}
    samples: list[Figure] = []
    notes: list[str] = []
    runs: list[list[str]] = []
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
            runs.append(_run_row(variant, seed, result, run_files[variant, seed][1]))
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
    runs_table = Table(f"Runs (MLflow experiment {config.mlflow.experiment}; open them with `ganlab ui`)", RUN_HEADER, runs)
    return DatasetSection(dataset, protocol_lines, metric_tables, figures, samples, notes, runs_table)


RUN_HEADER = ["variant", "seed", "MLflow run", "steps", "train time", "steps/s", "Ray workers (hosts)", "global batch",
              "evaluate time"]


def _run_row(variant: str, seed: int, result: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    hosts = sorted({worker["host"] for worker in summary["workers"]})
    return [variant, str(seed), summary["run_id"], str(summary["steps"]), _duration(summary["wall_time_s"]),
            f"{summary['steps_per_s']:.1f}" if summary["steps_per_s"] else "—",
            f"{summary['num_workers']} ({', '.join(hosts)})", str(summary["global_batch_size"]),
            _duration(result["wall_time_s"])]


def _duration(seconds: float) -> str:
    if seconds < 0.1:
        return "< 0.1 s"
    minutes, rest = divmod(float(seconds), 60.0)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def _stage_times(config: Config, run_files: dict[str, RunFiles], sweep: dict[str, Any] | None) -> Table:
    """Wall time per stage: the sum over the stage's matrix entries (they may run one after another).

    ``prepare`` and ``features`` count the datasets whose time file exists (``ganlab report`` may run
    on outputs that a stage wrote before it kept its time).
    """
    bench = config.benchmark
    times: dict[str, list[float]] = {"prepare": [], "features": [], "train": [], "evaluate": []}
    for dataset in bench.datasets:
        for stage in ("prepare", "features"):
            path = stage_time_file(dataset, stage)
            if path.is_file():
                times[stage].append(read_json(path, f"{stage} time", f"run `dvc repro {stage}@{dataset}`")["wall_time_s"])
        for result, summary in run_files[dataset].values():
            times["train"].append(summary["wall_time_s"])
            times["evaluate"].append(result["wall_time_s"])
    if sweep is not None:
        times["tune"] = [sweep["wall_time_s"]]
    rows = [[stage, str(len(values)), _duration(sum(values)) if values else "—", _duration(max(values)) if values else "—"]
            for stage, values in times.items()]
    return Table("Wall time per stage (summed over its runs; measured inside each command: Python start-up "
                 "not counted, Ray's start-up counted in train and tune)", ["stage", "runs", "total", "longest run"], rows)


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


def _machine() -> str:
    """CPU model, cores, memory and GPUs of the machine that renders the report (training hosts: runs tables)."""
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = models[0] if models else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3 if hasattr(os, "sysconf") else None
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} CPU(s)" + (f", {memory:.0f} GiB" if memory else "")
            + f", GPUs: {', '.join(gpus) or 'none'}; Python {platform.python_version()}, torch {torch.__version__}")


def _sweep_section(figures_dir: Path) -> tuple[SweepSection, dict[str, Any]] | None:
    """The ``tune`` stage's results, when a sweep has run (``tune/summary.json``)."""
    summary_file = tune_dir() / "summary.json"
    if not summary_file.is_file():
        return None
    fix = "run `dvc repro tune` (or `ganlab tune`)"
    summary = read_json(summary_file, "sweep summary", fix)
    tables = {}
    for name in ("trials", "trial_curves"):
        path = tune_dir() / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"sweep output {path} is missing beside {summary_file}; {fix}")
        tables[name] = pd.read_csv(path)
    trials, curves = tables["trials"], tables["trial_curves"]
    metric, mode = summary["metric"], summary["mode"]
    objective = f"best_{metric}"
    dimensions = dict(summary["space"])
    if len(summary["variants"]) > 1:
        dimensions["variant"] = "choice"
    ranked = trials.dropna(subset=[objective]).sort_values(objective, ascending=mode == "min")
    top = ranked.head(5)
    best_id = summary["best"]["trial_id"] if summary.get("best") else ""
    header = ["rank", "trial", *dimensions, f"best {metric}", "at step", "ended", "MLflow run"]
    rows = [[str(rank), row["trial_id"], *(_value(row[name]) for name in dimensions), f"{row[objective]:.4g}",
             str(int(row["best_step"])), f"{row['stop_reason']} ({int(row['steps'])} steps)", str(row["mlflow_run_id"])]
            for rank, (_, row) in enumerate(top.iterrows(), start=1)]
    figures = []
    if dimensions and len(ranked):
        title = f"{summary['dataset']}: best {metric} of each trial ({'lower' if mode == 'min' else 'higher'} is better)"
        figures.append(Figure("Objective against each searched hyperparameter",
                              sweep_scatter_png(ranked, dimensions, objective, best_id, figures_dir / "objective-vs-hyperparameters.png", title)))
    if len(curves):
        figures.append(Figure("Objective over training, every trial (the best five in colour)",
                              trial_curves_png(curves, metric, list(top["trial_id"]), figures_dir / "trial-curves.png",
                                               f"{summary['dataset']}: {metric} per trial")))
    reasons = ", ".join(f"{n} {reason}" for reason, n in summary["stop_reasons"].items())
    facts = [
        ("dataset and variants", f"{summary['dataset']}: {', '.join(summary['variants'])}"),
        ("search", f"{summary['search']} search, {summary['scheduler']} scheduler, objective {metric} ({mode})"),
        ("trials", f"{summary['trials']} ({reasons})"),
        ("compute", f"{summary['trial_steps']} trial-steps of a {summary['trials'] * summary['steps']} budget, "
                    f"{_duration(summary['wall_time_s'])}"),
        ("MLflow sweep run", f"{summary['parent_run_id']} (trials are its child runs)"),
        ("winner", "retrain with `ganlab train --params tune/best_params.yaml`"),
    ]
    return SweepSection("Hyperparameter sweep (Ray Tune)", facts, Table("Best trials", header, rows), figures), summary


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def report(config: Config) -> Path:
    figures_root = REPORTS / "figures"
    if figures_root.exists():
        shutil.rmtree(figures_root)
    sections = []
    run_files = {dataset: _run_files(config, dataset) for dataset in config.benchmark.datasets}
    for dataset in config.benchmark.datasets:
        directory = figures_root / dataset
        directory.mkdir(parents=True)
        sections.append(_section(config.for_dataset(dataset), dataset, directory, run_files[dataset]))
        log.info("report: %s done", dataset)
    (figures_root / "sweep").mkdir(parents=True)
    sweep = _sweep_section(figures_root / "sweep")
    facts = [
        ("git commit", git_commit()),
        ("params hash", f"{fingerprint(config.to_dict())[:16]} (sha256 of the validated params.yaml)"),
        ("machine", _machine()),
        ("variants", ", ".join(config.benchmark.variants)),
        ("seeds", ", ".join(map(str, config.benchmark.seeds))),
    ]
    stages = _stage_times(config, run_files, sweep[1] if sweep else None)
    report_data = Report("ganlab benchmark: GAN loss variants compared", facts, sections, stages,
                         sweep[0] if sweep else None)
    render(report_data, REPORTS / "benchmark.md", REPORTS / "benchmark.html")
    log.info("wrote %s and %s", REPORTS / "benchmark.md", REPORTS / "benchmark.html")
    return REPORTS / "benchmark.html"
