"""The train stage's fan-out: every run of the matrix at once on the Ray cluster, as its resources allow.

DVC runs stages one after another, so the unit DVC sees is the whole matrix and the parallelism comes from
Ray (DESIGN.md, "Why the train stage fans out"). Each run is one Ray Tune trial over the fixed list of run
names -- Tune is the scheduler, not a search: no sampling, no early stopping -- and the trial function is
the complete training of that run (:func:`pipeline.training.run.train_job`): its own Ray Train run with
its workers and DDP, checkpoints, ``FailureConfig`` and MLflow run. Tune starts as many as the cluster's
CPUs hold (``ray.num_workers × ray.cpus_per_worker`` each), so a bigger cluster runs more at once with the
same params, and a trial that fails does not stop the others.

Inside the stage, a run whose key (:mod:`pipeline.training.run_cache`) is what ``runs/…`` holds is kept.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cluster.session import ray_session, require_resources, tune_console_off
from pipeline.common.layout import SCRATCH
from pipeline.common.logs import configure_logging
from pipeline.config import Config
from pipeline.training.job import TrainingJob
from pipeline.training.ray_train import TrainingFailed, TrainingInterrupted
from pipeline.training.run import train_job

log = logging.getLogger("ganlab.train")


@dataclass(frozen=True)
class MatrixContext:
    """What every trial of the fan-out shares (sent once to Ray's object store)."""

    config: Config
    project: str
    jobs: dict[str, TrainingJob]
    keys: dict[str, str]


def run_one(trial: dict[str, Any], context: MatrixContext) -> None:
    """The Tune trial: train one run of the matrix completely, then report its headline to the driver."""
    import ray.tune

    os.chdir(context.project)
    configure_logging()
    name = trial["run"]
    started = time.monotonic()
    summary = train_job(context.jobs[name], context.config, context.keys[name])
    ray.tune.report({"wall_time_s": time.monotonic() - started, "steps": summary["steps"],
                     "headline": headline(summary)})


def headline(summary: dict[str, Any]) -> str:
    """The best in-training metrics of a finished run, for the progress lines."""
    best = summary.get("best_metrics") or {}
    shown = [f"{name} {value:.3g}" for name, value in best.items() if "_std" not in name and "modes_hq" not in name]
    return ", ".join(shown[:3]) + (f" (best at step {summary['best_step']})" if shown else "") or "no in-training metric"


def capacity(config: Config) -> int:
    """How many runs fit on the cluster at once: its CPUs over what one run's workers take."""
    import ray

    per_run = config.ray.num_workers * config.ray.cpus_per_worker
    return max(1, math.floor(ray.cluster_resources().get("CPU", 1) / per_run))


def _tuner(config: Config, context: MatrixContext, names: list[str], storage: Path) -> Any:
    from ray import tune

    from pipeline.training.matrix_progress import MatrixProgress

    # A trial only drives its Ray Train run, whose workers hold the CPUs; Ray wants some resource in every request.
    # Trials reuse their actor: the next run starts at once in a process that has imported torch and MLflow already
    # (without reuse Tune left ~4 s between one run's end and the next one's start on 2 cores).
    trainable = tune.with_resources(tune.with_parameters(run_one, context=context), {"cpu": 0, "memory": 64 * 1024**2})
    return tune.Tuner(
        trainable,
        param_space={"run": tune.grid_search(names)},
        tune_config=tune.TuneConfig(max_concurrent_trials=capacity(config), reuse_actors=True),
        run_config=tune.RunConfig(name=storage.name, storage_path=str(storage.parent), verbose=0,
                                  callbacks=[MatrixProgress(len(names))],
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )


def fan_out(config: Config, jobs: list[TrainingJob], keys: dict[str, str]) -> None:
    """Train ``jobs`` concurrently on Ray; raise naming the runs that failed (the others are trained and kept)."""
    context = MatrixContext(config, str(Path.cwd().resolve()), {job.name: job for job in jobs}, keys)
    storage = (SCRATCH / "matrix").resolve() / f"train-{os.getpid()}"
    shutil.rmtree(storage, ignore_errors=True)
    try:
        with ray_session(config.ray):
            ray_cfg = config.ray
            require_resources(f"a run ({ray_cfg.num_workers} worker(s) × {ray_cfg.cpus_per_worker:g} CPU)",
                              cpus=ray_cfg.num_workers * ray_cfg.cpus_per_worker, gpus=ray_cfg.num_workers * ray_cfg.use_gpu,
                              nodes=ray_cfg.num_workers if ray_cfg.placement_strategy == "STRICT_SPREAD" else 1,
                              timeout_s=ray_cfg.resource_timeout_s)
            log.info("training %d run(s), up to %d at once on Ray", len(jobs), capacity(config))
            with tune_console_off():  # MatrixProgress says what happens
                grid = _tuner(config, context, [job.name for job in jobs], storage).fit()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    failed = {result.config["run"]: str(result.error).strip().splitlines()[-1][:300]
              for result in grid if result.error is not None}
    if failed:
        raise TrainingFailed(f"{len(failed)} of {len(jobs)} run(s) failed: "
                             + "; ".join(f"{name} ({why})" for name, why in sorted(failed.items()))
                             + ". The others are trained and kept: run the stage again to retry only these")
    unfinished = [result.config["run"] for result in grid if not result.metrics.get("headline")]
    if unfinished:
        raise TrainingInterrupted(f"the stage was stopped with {len(unfinished)} run(s) unfinished "
                                  f"({', '.join(sorted(unfinished))}); their checkpoints are kept: run it again "
                                  "to resume them")
