"""The report's facts about how the results were made: the machine, the wall time of each stage, one row per run."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from analysis.report import Table
from pipeline.common.files import read_json
from pipeline.common.layout import stage_summary_file, stage_time_file
from pipeline.config import Config

#: Per (variant, seed) of one dataset: its evaluation result and its training summary.
RunFiles = dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any]]]

RUN_HEADER = ["variant", "seed", "MLflow run", "steps", "train time", "steps/s", "Ray workers (hosts)", "global batch",
              "evaluate time"]


def duration(seconds: float) -> str:
    if seconds < 0.1:
        return "< 0.1 s"
    minutes, rest = divmod(float(seconds), 60.0)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def run_row(variant: str, seed: int, result: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    hosts = sorted({worker["host"] for worker in summary["workers"]})
    return [variant, str(seed), summary["run_id"], str(summary["steps"]), duration(summary["wall_time_s"]),
            f"{summary['steps_per_s']:.1f}" if summary["steps_per_s"] else "—",
            f"{summary['num_workers']} ({', '.join(hosts)})", str(summary["global_batch_size"]),
            duration(result["wall_time_s"])]


def stage_times(config: Config, run_files: dict[tuple[str, str], RunFiles], sweep: dict[str, Any] | None,
                study: dict[str, Any] | None = None) -> Table:
    """Wall time per stage: ``prepare`` and ``features`` summed over their datasets (DVC runs them one after
    another; a dataset whose time file is missing is left out), ``train`` and ``evaluate`` as each stage took as
    a whole (its runs overlap on Ray), with the longest run beside it; ``tune`` and ``study`` from their
    summaries."""
    times: dict[str, list[float]] = {"prepare": [], "features": [], "train": [], "evaluate": []}
    for dataset in config.data.datasets:
        for stage in ("prepare", "features"):
            path = stage_time_file(dataset, stage)
            if path.is_file():
                times[stage].append(read_json(path, f"{stage} time", f"run `dvc repro {stage}@{dataset}`")["wall_time_s"])
    runs = {(dataset, variant, seed): files for (_, dataset), per_run in run_files.items()
            for (variant, seed), files in per_run.items()}  # a run in two suites counts once
    for result, summary in runs.values():
        times["train"].append(summary["wall_time_s"])
        times["evaluate"].append(result["wall_time_s"])
    for stage, summary in (("tune", sweep), ("study", study)):
        if summary is not None:
            times[stage] = [summary["wall_time_s"]]
    totals = {stage: sum(values) for stage, values in times.items()}
    counts = {stage: str(len(values)) for stage, values in times.items()}
    for stage in ("train", "evaluate"):
        path = stage_summary_file(stage)
        if path.is_file():
            summary = read_json(path, f"{stage} stage time", f"run `dvc repro {stage}`")
            totals[stage] = summary["wall_time_s"]
            if "kept" in summary:
                counts[stage] += f" ({summary['trained']} trained, {summary['kept']} kept from before)"
    rows = [[stage, counts[stage], duration(totals[stage]) if values else "—", duration(max(values)) if values else "—"]
            for stage, values in times.items()]
    return Table("Wall time per stage (measured inside each command: Python start-up not counted, Ray's start-up "
                 "counted in train, tune and study; a stage's runs overlap where Ray runs them at once; the stage "
                 "total is its last execution, the longest run the longest training, whenever it ran)",
                 ["stage", "runs", "stage total", "longest run"], rows)


def machine() -> str:
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
