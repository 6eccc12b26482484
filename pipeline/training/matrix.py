"""The train stage's fan-out: every run of the matrix at once on the Ray cluster, as its resources allow.

DVC runs stages one after another, so the unit DVC sees is the whole matrix and the parallelism comes from
Ray (DESIGN.md, "Why the train stage fans out"). Each run is one Ray Tune trial over the fixed list of run
names -- Tune is the scheduler, not a search: no sampling, no early stopping -- and the trial function is
the complete training of that run (:func:`pipeline.training.run.train_job`): its own Ray Train run with
its workers and DDP, checkpoints, ``FailureConfig`` and MLflow run. Tune starts as many as the cluster holds
now (every resource a run asks for counts, :mod:`pipeline.cluster.resources`; the count follows the cluster as
it grows, :mod:`pipeline.training.run_queue`), so a bigger cluster runs more at once with the same params, and a
trial that fails does not stop the others. On a cluster the autoscaler is shown the whole matrix's demand while
the fan-out runs, so a node group at 0 scales up.

Nothing a trial needs comes from the driver's disk: each dataset's files go once into Ray's object store, the
code and environment with the job (:mod:`pipeline.cluster.shipping`), and each finished run's files come back
through the run storage (:mod:`pipeline.training.outputs`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from pipeline.cluster.failures import failure_cause, full_disk
from pipeline.cluster.resources import RunDemand, autoscaler_demand, cluster_totals, require_resources
from pipeline.cluster.session import ClusterContext, cluster_session, local_instance, tune_console_off
from pipeline.cluster.storage import StorageError, new_token
from pipeline.common.layout import RUNS
from pipeline.common.logs import configure_logging
from pipeline.config import Config
from pipeline.data.shipping import DatasetFolders, ShippedDataset
from pipeline.training.job import TrainingJob
from pipeline.training.run import RunRequest, train_job
from pipeline.training.run_queue import RunQueue
from pipeline.common.family_code import run_code

log = logging.getLogger("ganlab.train")


@dataclass(frozen=True)
class MatrixContext:
    """What every trial of the fan-out shares (sent once to Ray's object store)."""

    config: Config
    requests: dict[str, RunRequest]


@dataclass(frozen=True)
class FanOutResult:
    """How the trials of a fan-out ended: the runs that failed (with the cause) and the runs left unfinished."""

    failed: dict[str, str]
    unfinished: list[str]


def run_one(trial: dict[str, Any], context: MatrixContext) -> None:
    """The Tune trial: train one run of the matrix completely, then report its headline to the driver."""
    import ray.tune

    configure_logging()
    request = context.requests[trial["run"]]
    request.cluster.check_code(request.job.family, f"the trial of {trial['run']} on {socket.gethostname()}")
    started = time.monotonic()
    summary = train_job(request, context.config)
    ray.tune.report({"wall_time_s": time.monotonic() - started, "steps": summary["steps"],
                     "headline": headline(summary)})


def headline(summary: dict[str, Any]) -> str:
    """The best in-training metrics of a finished run, for the progress lines."""
    best = summary.get("best_metrics") or {}
    shown = [f"{name} {value:.3g}" for name, value in best.items() if "_std" not in name and "modes_hq" not in name]
    return ", ".join(shown[:3]) + (f" (best at step {summary['best_step']})" if shown else "") or "no in-training metric"


def capacity(config: Config) -> int:
    """How many runs the cluster holds at once now: every resource one run's workers ask for counts (CPUs, GPUs,
    custom resources, the accelerator type); at least one."""
    return max(1, RunDemand.of(config.ray).runs_that_fit(cluster_totals()))


def _tuner(config: Config, context: MatrixContext, names: list[str], cluster: ClusterContext, experiment: str) -> Any:
    from ray import tune

    from pipeline.training.matrix_progress import MatrixProgress

    # A trial only drives its Ray Train run, whose workers hold the CPUs; Ray wants some resource in every request.
    # Trials reuse their actor: the next run starts at once in a process that has imported torch and MLflow already
    # (without reuse Tune left ~4 s between one run's end and the next one's start on 2 cores).
    trainable = tune.with_resources(tune.with_parameters(run_one, context=context), {"cpu": 0, "memory": 64 * 1024**2})
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=RunQueue(names, lambda: capacity(config)), num_samples=len(names),
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=experiment, **(cluster.storage / "matrix").ray_options(), verbose=0,
                                  callbacks=[MatrixProgress(len(names))],
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )


def fan_out(config: Config, jobs: list[TrainingJob], keys: Mapping[str, str], tracking_uri: str,
            owner: Mapping[str, str], commit: str) -> FanOutResult:
    """Train ``jobs`` concurrently on Ray, each run's files left in the run storage for :func:`collect`."""
    code = {family: run_code(family) for family in dict.fromkeys(job.family for job in jobs)}
    with ExitStack() as stack:
        cluster = stack.enter_context(cluster_session(config.ray, tracking_uri, code))
        demand = RunDemand.of(config.ray)
        stack.enter_context(autoscaler_demand(demand.bundles(len(jobs)), local_instance()))
        require_resources(f"a run ({demand.describe()})", demand, config.ray.resource_timeout_s, local_instance())
        data = {dataset: ShippedDataset.put(DatasetFolders.of_project(dataset))
                for dataset in dict.fromkeys(job.dataset for job in jobs)}
        requests = {job.name: RunRequest(job, keys[job.name], cluster, data[job.dataset], dict(owner), commit)
                    for job in jobs}
        experiment = f"train-{os.getpid()}-{new_token()[:8]}"
        log.info("training %d run(s), %d at once on Ray as it is now; storage %s", len(jobs), capacity(config),
                 cluster.storage.location)
        folders = [RUNS.absolute()] + ([Path(cluster.storage.path)] if cluster.storage.local else [])
        try:
            with tune_console_off():  # MatrixProgress says what happens
                grid = _tuner(config, MatrixContext(config, requests), list(requests), cluster, experiment).fit()
        except Exception as err:  # Tune's own error when it cannot write its state hides a full disk
            full = full_disk(err, folders)
            if full is None:
                raise
            raise StorageError(full) from err
        finally:
            (cluster.storage / "matrix" / experiment).rmtree()
    failed = {result.config["run"]: full_disk(result.error, folders) or failure_cause(result.error)
              for result in grid if result.error is not None}
    unfinished = [result.config["run"] for result in grid
                  if result.error is None and not (result.metrics or {}).get("headline")]
    return FanOutResult(failed, unfinished)


def without_outputs(result: FanOutResult, names: list[str], storage: str) -> FanOutResult:
    """``result`` with every run of ``names`` that neither failed nor was left unfinished, yet whose files did not
    arrive, counted as failed."""
    lost = {name: f"it finished on the cluster but its files never arrived in {storage}/outputs/{name}"
            for name in names if name not in result.failed and name not in result.unfinished}
    return replace(result, failed={**result.failed, **lost})
