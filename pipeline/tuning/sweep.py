"""The ``tune`` stage: a Ray Tune search of the fragile GAN hyperparameters, every trial in MLflow.

``tune.space`` (``lr_g``, ``lr_d``, ``k_d_steps``, ``gp_lambda``, ``batch_size``, ``beta1``;
``tune.variants`` adds the loss variant) is searched by random search, Optuna's
TPE (Bergstra et al. 2011) or an exhaustive grid, under ASHA (Li et al. 2020,
the default), Population Based Training (Jaderberg et al. 2017) or no early
stopping. Each trial is :func:`pipeline.tuning.trial.run_trial`: the training
loop of ``ganlab train`` with the trial's settings.

Tracking: one MLflow parent run per sweep (tag ``stage: tune``), one child run
per trial. Resuming: the sweep's Ray Tune experiment lives in
``.ganlab/tune/sweep-<dataset>``; when a driver was stopped (Ctrl-C, a killed
job), running ``ganlab tune`` again with the same settings continues it with
``Tuner.restore`` and the same parent run; other settings, or ``--restart``,
start a new sweep.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.families import family_of
from pipeline.cluster.session import ray_session, require_resources, tune_console_off
from pipeline.common.digest import fingerprint
from pipeline.common.files import write_json
from pipeline.common.layout import reference_dir, tune_dir, tune_storage
from pipeline.config import Config, ConfigError
from pipeline.config.space import PBT_MUTABLE
from pipeline.data.store import PreparedData, data_spec, load_prepared
from pipeline.scoring.registry import Scorer, direction, in_training_scorer
from pipeline.tracking.git import git_commit
from pipeline.tracking.store import client_for, resolve_tracking_uri, start_run
from pipeline.tuning.errors import SweepInterrupted
from pipeline.tuning.outputs import write_outputs
from pipeline.tuning.progress import SweepProgress
from pipeline.tuning.space import grid_size, ray_domain, ray_space
from pipeline.tuning.trial import SweepContext, run_trial

log = logging.getLogger("ganlab.tune")


def trial_scorer(config: Config, prepared: PreparedData) -> Scorer | None:
    """The in-training scorer the trials measure the objective with (None: the dataset has none)."""
    tune = config.tune
    return in_training_scorer(family_of(tune.variants[0]).task, prepared, reference_dir(tune.dataset),
                              config.for_dataset(tune.dataset).eval, tune.eval_samples)


def objective(config: Config, scorer: Scorer | None = None) -> tuple[str, str]:
    """(metric, mode) of the sweep, checked against what the dataset's in-training scorer measures."""
    tune = config.tune
    scorer = scorer or trial_scorer(config, load_prepared(tune.dataset))
    names = scorer.metric_names() if scorer is not None else []
    if not names:
        raise ConfigError(f"tune.dataset {tune.dataset} has no in-training metric (no labels, not 2-D points) "
                          "to rank trials by; tune on a labelled or 2-D dataset")
    metric = scorer.tune_metric if tune.metric == "auto" else tune.metric
    if metric not in names:
        raise ConfigError(f"tune.metric {metric!r} is not measured on {tune.dataset} with tune.eval_samples "
                          f"{tune.eval_samples}; choose one of: {', '.join(names)}")
    mode = direction(metric) if tune.mode == "auto" else tune.mode
    return metric, mode


def sweep_fingerprint(config: Config) -> str:
    """Everything that shapes the sweep's trials: resuming with other settings would mix two sweeps."""
    merged = config.for_dataset(config.tune.dataset).to_dict()
    return fingerprint({key: merged[key] for key in ("model", "loss", "train", "eval", "tune")})


def _scheduler(config: Config) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    tune = config.tune
    if tune.scheduler == "asha":
        return ASHAScheduler(time_attr="step", max_t=tune.steps, grace_period=tune.grace_period,
                             reduction_factor=tune.reduction_factor)
    if tune.scheduler == "pbt":
        mutations = {d.name: ray_domain(d) for d in tune.space if d.name in PBT_MUTABLE}
        return PopulationBasedTraining(time_attr="step", perturbation_interval=tune.perturbation_interval,
                                       hyperparam_mutations=mutations, quantile_fraction=tune.quantile_fraction)
    return FIFOScheduler()


def _searcher(config: Config, metric: str, mode: str) -> Any:
    from ray.tune.search import BasicVariantGenerator

    tune = config.tune
    if tune.search != "optuna":
        return BasicVariantGenerator(random_state=tune.seed)
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(metric=metric, mode=mode, seed=tune.seed)


def _samples(tune: Any) -> int:
    """Ray's ``num_samples``: a grid is tried once (its trials share the seed, repeats would be copies)."""
    return 1 if tune.search == "grid" else tune.num_samples


def _concurrent_trials(tune: Any) -> int | None:
    """``tune.max_concurrent``; for multi-worker trials (whose drivers take no CPU) at most as many as the
    cluster's CPUs can run at once, so that no trial starts a Ray Train run that waits for workers."""
    import ray

    if tune.max_concurrent:
        return tune.max_concurrent
    if tune.workers_per_trial > 1:
        return max(1, int(ray.cluster_resources().get("CPU", 1) // tune.cpus_per_trial))
    return None


def _checkpoints_kept(tune: Any) -> int | None:
    """Checkpoints kept per trial: all with PBT, whose exploit may copy any trial's latest one while
    that trial has moved on (they go when the sweep ends); else the last two."""
    return None if tune.scheduler == "pbt" else 2


def _new_tuner(config: Config, trainable: Any, metric: str, mode: str, path: Path) -> Any:
    from ray import tune as ray_tune

    tune = config.tune
    return ray_tune.Tuner(
        trainable,
        param_space=ray_space(tune.space, tune.variants, tune.search, tune.grid_points, tune.equal_budget),
        tune_config=ray_tune.TuneConfig(metric=metric, mode=mode, num_samples=_samples(tune),
                                        scheduler=_scheduler(config), search_alg=_searcher(config, metric, mode),
                                        time_budget_s=tune.time_budget_s, reuse_actors=False,
                                        max_concurrent_trials=_concurrent_trials(tune)),
        run_config=ray_tune.RunConfig(name=path.name, storage_path=str(path.parent), verbose=0,
                                      callbacks=[SweepProgress(metric, mode)],
                                      checkpoint_config=ray_tune.CheckpointConfig(num_to_keep=_checkpoints_kept(tune)),
                                      failure_config=ray_tune.FailureConfig(max_failures=tune.max_failures)),
    )


@dataclass(frozen=True)
class SweepPlace:
    """Where a sweep's Ray Tune experiment and its resume record live."""

    path: Path
    record_file: Path

    @classmethod
    def of(cls, dataset: str, name: str = "tune") -> SweepPlace:
        storage = tune_storage().resolve()
        prefix = "sweep" if name == "tune" else name
        return cls(storage / f"{prefix}-{dataset}", storage / f"{prefix}-{dataset}.json")

    @property
    def scratch(self) -> Path:
        return self.path.parent / f"{self.path.name}-scratch"

    def remove(self) -> None:
        for folder in (self.path, self.scratch):
            shutil.rmtree(folder, ignore_errors=True)
        self.record_file.unlink(missing_ok=True)


def _resumable(place: SweepPlace, sweep_id: str, restart: bool) -> dict[str, Any] | None:
    """The resume record of an unfinished sweep with the same settings, else None (stale state removed)."""
    from ray import tune as ray_tune

    record = json.loads(place.record_file.read_text()) if place.record_file.is_file() else None
    if record is not None and not restart and record["fingerprint"] == sweep_id and ray_tune.Tuner.can_restore(str(place.path)):
        return record
    if record is not None or place.path.exists():
        why = ("--restart" if restart else "its settings differ" if record and record["fingerprint"] != sweep_id
               else "it cannot be restored")
        log.info("not resuming the sweep at %s (%s): starting a new one", place.path, why)
    shutil.rmtree(place.path, ignore_errors=True)
    place.record_file.unlink(missing_ok=True)
    return None


def _saved_trials(path: Path) -> list[Any]:
    """The trials of the experiment state Tune saved on disk (statuses, failure counts).

    Tune saves that state before it stops the remaining trials, so after a Ctrl-C it still says which
    trials were pending or running (the in-memory statuses no longer do).
    """
    from ray.tune import ExperimentAnalysis

    return ExperimentAnalysis(str(path)).trials


def _check_sweep(config: Config, name: str) -> None:
    settings = config.tune
    if settings.dataset not in config.benchmark.datasets:
        raise ConfigError(f"{name}.dataset {settings.dataset} is not in benchmark.datasets "
                          f"({', '.join(config.benchmark.datasets)}): `dvc repro` prepares only those; add it there "
                          f"or choose one of them")
    if not settings.space:
        raise ConfigError(f"{name}.space is empty: give at least one of lr, lr_g, lr_d, k_d_steps, gp_lambda, "
                          "batch_size, beta1 (see params.yaml)")
    if settings.equal_budget and (settings.search, settings.scheduler) != ("random", "fifo"):
        raise ConfigError(f"tune.equal_budget gives every variant the same random samples at the full budget: it "
                          f"needs tune.search random and tune.scheduler fifo (got {settings.search}, {settings.scheduler})")


def _parent_run(config: Config, client: Any, place: SweepPlace, sweep_id: str, metric: str, mode: str,
                commit: str, restart: bool) -> str:
    """The sweep's MLflow parent run: the stopped sweep's when it is resumed, else a new one."""
    settings = config.tune
    record = _resumable(place, sweep_id, restart)
    if record is not None:
        client.update_run(record["parent_run_id"], status="RUNNING")
        log.info("resuming the stopped sweep at %s (MLflow run %s) with Tuner.restore", place.path,
                 record["parent_run_id"])
        return record["parent_run_id"]
    params = {"tune": config.to_dict()["tune"], "metric": metric, "mode": mode}
    parent = start_run(client, config.mlflow.experiment, f"sweep-{settings.dataset}", params,
                       {"stage": "tune", "dataset": settings.dataset, "variant": ",".join(settings.variants),
                        "git_commit": commit, "ganlab.fingerprint": sweep_id})
    place.record_file.parent.mkdir(parents=True, exist_ok=True)
    write_json(place.record_file, {"fingerprint": sweep_id, "parent_run_id": parent})
    return parent


def _trainable(sweep: SweepContext) -> Any:
    """The trial function with its resources. A multi-worker trial only drives its Ray Train run, whose workers
    hold the trial's CPUs; Ray wants some resource in every request, so its driver asks for a little memory."""
    from ray import tune as ray_tune

    settings = sweep.config.tune
    resources = ({"cpu": settings.cpus_per_trial} if settings.workers_per_trial == 1
                 else {"cpu": 0, "memory": 64 * 1024**2})
    return ray_tune.with_resources(ray_tune.with_parameters(run_trial, sweep=sweep), resources)


def _fit(config: Config, sweep: SweepContext, place: SweepPlace, client: Any) -> tuple[Any, float]:
    """Run (or restore) the Tuner; returns its results and the monotonic time fitting began."""
    from ray import tune as ray_tune

    trainable = _trainable(sweep)
    settings = config.tune
    try:
        with ray_session(config.ray):
            require_resources(f"a trial of the sweep ({settings.cpus_per_trial:g} CPU)", cpus=settings.cpus_per_trial,
                              timeout_s=config.ray.resource_timeout_s)
            tuner = (ray_tune.Tuner.restore(str(place.path), trainable=trainable, resume_unfinished=True,
                                            resume_errored=True) if place.path.exists()
                     else _new_tuner(config, trainable, sweep.metric, sweep.mode, place.path))
            fitting = time.monotonic()
            with tune_console_off():  # SweepProgress says what happens
                return tuner.fit(), fitting
    except BaseException:
        client.set_terminated(sweep.parent_run_id, "KILLED")
        raise


def tune(config: Config, restart: bool = False, name: str = "tune") -> dict[str, Any]:
    """Run (or resume) the sweep of ``config.tune``; returns ``<name>/summary.json``'s content (``name``: the
    ``tune`` stage's outputs, or ``study`` for :mod:`pipeline.tuning.study`)."""
    started = time.monotonic()
    _check_sweep(config, name)
    settings = config.tune
    prepared = load_prepared(settings.dataset)
    scorer = trial_scorer(config, prepared)
    metric, mode = objective(config, scorer)
    uri = resolve_tracking_uri(config)
    client = client_for(uri)
    place = SweepPlace.of(settings.dataset, name)
    commit = git_commit()
    parent_run_id = _parent_run(config, client, place, sweep_fingerprint(config), metric, mode, commit, restart)
    trials = (grid_size(settings.space, settings.variants, settings.grid_points) if settings.search == "grid"
              else settings.num_samples * (len(settings.variants) if settings.equal_budget else 1))
    log.info("sweep of %s on %s: %d trial(s), %s search, %s scheduler, objective %s (%s); MLflow run %s in %s",
             ", ".join(settings.variants), settings.dataset, trials, settings.search, settings.scheduler, metric, mode,
             parent_run_id, uri)
    sweep = SweepContext(config=config, project=str(Path.cwd().resolve()), data=data_spec(prepared), metric=metric,
                         mode=mode, parent_run_id=parent_run_id, tracking_uri=uri, git_commit=commit,
                         scratch=str(place.scratch), coverage_metric=scorer.coverage_metric)
    grid, fitting = _fit(config, sweep, place, client)
    out_of_time = settings.time_budget_s is not None and time.monotonic() - fitting >= settings.time_budget_s
    saved = _saved_trials(place.path)
    unfinished = sum(trial.status not in ("TERMINATED", "ERROR") for trial in saved)
    if unfinished and not out_of_time:
        client.set_terminated(parent_run_id, "KILLED")
        raise SweepInterrupted(f"the sweep was stopped with {unfinished} trial(s) unfinished; run `ganlab tune` "
                               "again to resume it (Tuner.restore), or `ganlab tune --restart` to start over")
    try:
        failures = {trial.trial_id: trial.num_failures for trial in saved}
        return write_outputs(config, client, grid, metric, mode, parent_run_id, started, failures, tune_dir(name))
    finally:  # every trial ended: nothing to resume
        client.set_terminated(parent_run_id, "FINISHED")
        place.remove()
