"""The ``tune`` stage: a Ray Tune search of the fragile GAN hyperparameters, every trial in MLflow.

``tune.space`` (the short names ``lr_g``, ``lr_d``, ``k_d_steps``, ``gp_lambda``, ``batch_size``, ``beta1``,
any ``model.<key>``, ``loss.<key>`` or ``train.<key>`` the variants' families read, and their own options
``families.<family>.<option>``: :mod:`pipeline.config.space`; ``tune.variants`` adds the loss variant) is
searched by random search, Optuna's TPE (Bergstra et al. 2011) or an exhaustive grid, under ASHA (Li et al.
2020, the default), Population Based Training (Jaderberg et al. 2017) or no early stopping. Each trial is :func:`pipeline.tuning.trial.run_trial`: the training
loop of ``ganlab train`` with the trial's settings.

Tracking: one MLflow parent run per sweep (tag ``stage: tune``), one child run
per trial. Resuming: the sweep's Ray Tune experiment lives in ``tune/sweep-<dataset>``
of the run storage (:mod:`pipeline.tuning.place`); when a driver was stopped (Ctrl-C,
a killed job) or trials failed, running ``ganlab tune`` again with the same settings
continues it with ``Tuner.restore`` and the same parent run; other settings, or
``--restart``, start a new sweep. From outside the cluster the sweep runs as a Ray
job (:mod:`pipeline.cluster.jobs`).
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

from models.families import family_of
from pipeline.cluster.failures import failure_cause
from pipeline.cluster.jobs import RemoteJobError, Submission, check_submittable, run_as_job
from pipeline.cluster.resources import RunDemand, autoscaler_demand, cluster_totals, require_resources
from pipeline.cluster.session import cluster_session, jobs_address, local_instance, tune_console_off
from pipeline.cluster.storage import storage_root
from pipeline.common.digest import fingerprint
from pipeline.common.files import read_json
from pipeline.common.layout import prepared_dir, reference_dir, tune_dir
from pipeline.config import Config, ConfigError
from pipeline.config.space import pbt_mutable
from pipeline.data.shipping import DatasetFolders, ShippedDataset
from pipeline.data.store import PreparedData, data_spec, load_prepared
from pipeline.scoring.registry import Scorer, direction, in_training_scorer
from pipeline.tracking.git import git_commit
from pipeline.tracking.store import client_for, driver_tags, resolve_tracking_uri, start_run
from pipeline.common.family_code import run_code
from pipeline.tuning.combinations import check_combinations
from pipeline.tuning.errors import SweepInterrupted, TrialsLost
from pipeline.tuning.outputs import write_outputs
from pipeline.tuning.place import SweepPlace, resumable, saved_trials
from pipeline.tuning.progress import SweepProgress
from pipeline.tuning.space import ray_domain, ray_space, sweep_trials
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
    return fingerprint({key: merged[key] for key in ("model", "loss", "train", "eval", "tune", "families")})


def _scheduler(config: Config) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    tune = config.tune
    if tune.scheduler == "asha":
        return ASHAScheduler(time_attr="step", max_t=tune.steps, grace_period=tune.grace_period,
                             reduction_factor=tune.reduction_factor)
    if tune.scheduler == "pbt":
        mutations = {d.name: ray_domain(d) for d in tune.space if pbt_mutable(d)}
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
    """Ray's ``num_samples``: a grid (also the equal-budget sweep's grid of shared points) is tried once."""
    return 1 if tune.search == "grid" or tune.equal_budget else tune.num_samples


def trial_demand(config: Config) -> RunDemand:
    """What one trial holds: ``tune.cpus_per_trial`` (and with ``ray.use_gpu`` one GPU per worker, with
    ``ray.resources_per_worker`` each) over ``tune.workers_per_trial`` workers -- a one-worker trial trains in its
    own process, which asks for it all."""
    workers = config.tune.workers_per_trial
    return RunDemand.of(replace(config.ray, num_workers=workers, cpus_per_worker=config.tune.cpus_per_trial / workers))


def _concurrent_trials(config: Config) -> int | None:
    """``tune.max_concurrent``; for multi-worker trials (whose drivers take nothing) at most as many as the cluster
    holds when the sweep starts, every resource counted, so that no trial starts a Ray Train run that waits for
    workers. One-worker trials ask Tune for their resources themselves, so Tune counts them as the cluster grows."""
    if config.tune.max_concurrent:
        return config.tune.max_concurrent
    if config.tune.workers_per_trial > 1:
        return max(1, trial_demand(config).runs_that_fit(cluster_totals()))
    return None


def _checkpoints_kept(tune: Any) -> int | None:
    """Checkpoints kept per trial: all with PBT, whose exploit may copy any trial's latest one while
    that trial has moved on (they go when the sweep ends); else the last two."""
    return None if tune.scheduler == "pbt" else 2


def _new_tuner(config: Config, trainable: Any, metric: str, mode: str, place: SweepPlace) -> Any:
    from ray import tune as ray_tune

    tune = config.tune
    return ray_tune.Tuner(
        trainable,
        param_space=ray_space(tune),
        tune_config=ray_tune.TuneConfig(metric=metric, mode=mode, num_samples=_samples(tune),
                                        scheduler=_scheduler(config), search_alg=_searcher(config, metric, mode),
                                        time_budget_s=tune.time_budget_s, reuse_actors=False,
                                        max_concurrent_trials=_concurrent_trials(config)),
        run_config=ray_tune.RunConfig(name=place.path.name, **place.folder.ray_options(), verbose=0,
                                      callbacks=[SweepProgress(metric, mode)],
                                      checkpoint_config=ray_tune.CheckpointConfig(num_to_keep=_checkpoints_kept(tune)),
                                      failure_config=ray_tune.FailureConfig(max_failures=tune.max_failures)),
    )


def _check_sweep(config: Config, name: str) -> None:
    settings = config.tune
    if not settings.space:
        raise ConfigError(f"{name}.space is empty: give at least one of lr, lr_g, lr_d, k_d_steps, gp_lambda, "
                          "batch_size, beta1, model.<key>, loss.<key>, train.<key> or families.<family>.<option> "
                          "(see params.yaml)")
    if settings.seeds_per_sample > 1 and not settings.equal_budget:
        raise ConfigError(f"{name}.seeds_per_sample {settings.seeds_per_sample} needs tune.equal_budget: true (other "
                          "sweeps train each sample from tune.seed); set it to 1 or make the sweep an equal-budget one")
    if settings.equal_budget and (settings.search, settings.scheduler) != ("random", "fifo"):
        raise ConfigError(f"tune.equal_budget gives every variant the same random samples at the full budget: it "
                          f"needs tune.search random and tune.scheduler fifo (got {settings.search}, {settings.scheduler})")
    check_combinations(config)


def _parent_run(config: Config, client: Any, place: SweepPlace, sweep_id: str, metric: str, mode: str,
                commit: str, restart: bool) -> str:
    """The sweep's MLflow parent run: the stopped sweep's when it is resumed, else a new one."""
    settings = config.tune
    record = resumable(place, sweep_id, restart)
    if record is not None:
        client.update_run(record["parent_run_id"], status="RUNNING")
        log.info("resuming the stopped sweep at %s (MLflow run %s) with Tuner.restore", place.path.location,
                 record["parent_run_id"])
        return record["parent_run_id"]
    params = {"tune": config.to_dict()["tune"], "metric": metric, "mode": mode}
    parent = start_run(client, config.mlflow.experiment, f"sweep-{settings.dataset}", params,
                       {"stage": "tune", "dataset": settings.dataset, "variant": ",".join(settings.variants),
                        "git_commit": commit, "ganlab.fingerprint": sweep_id})
    place.record_file.write_text(json.dumps({"fingerprint": sweep_id, "parent_run_id": parent}))
    return parent


def _trainable(sweep: SweepContext) -> Any:
    """The trial function with its resources. A multi-worker trial only drives its Ray Train run, whose workers
    hold the trial's CPUs; Ray wants some resource in every request, so its driver asks for a little memory."""
    from ray import tune as ray_tune

    resources = (ray_tune.PlacementGroupFactory([dict(trial_demand(sweep.config).per_worker)])
                 if sweep.config.tune.workers_per_trial == 1 else {"cpu": 0, "memory": 64 * 1024**2})
    return ray_tune.with_resources(ray_tune.with_parameters(run_trial, sweep=sweep), resources)


def _fit(config: Config, plan: SweepContext, place: SweepPlace, client: Any) -> tuple[Any, float]:
    """Run (or restore) the Tuner on the cluster, the dataset shipped to its trials; returns its results and the
    monotonic time fitting began."""
    from ray import tune as ray_tune

    settings = config.tune
    try:
        code = {family_of(variant).name: run_code(family_of(variant).name) for variant in settings.variants}
        with ExitStack() as stack:
            cluster = stack.enter_context(cluster_session(config.ray, plan.tracking_uri, code))
            demand = trial_demand(config)
            stack.enter_context(autoscaler_demand(demand.bundles(settings.max_concurrent or settings.num_samples),
                                                  local_instance()))
            require_resources(f"a trial of the sweep ({demand.describe()})", demand, config.ray.resource_timeout_s,
                              local_instance())
            data = ShippedDataset.put(DatasetFolders.of_project(settings.dataset))
            trainable = _trainable(replace(plan, cluster=cluster, shipped=data))
            tuner = (ray_tune.Tuner.restore(place.path.path, trainable=trainable, resume_unfinished=True,
                                            resume_errored=True, storage_filesystem=place.path.filesystem)
                     if place.exists() else _new_tuner(config, trainable, plan.metric, plan.mode, place))
            fitting = time.monotonic()
            with tune_console_off():  # SweepProgress says what happens
                return tuner.fit(), fitting
    except BaseException:
        client.set_terminated(plan.parent_run_id, "KILLED")
        raise


def _tune_remotely(config: Config, uri: str, restart: bool, name: str) -> dict[str, Any]:
    """From outside the cluster: the sweep as a Ray job, its outputs (``tune/`` or ``study/``) brought back."""
    dataset = config.tune.dataset
    submission = Submission(name, [], restart, [str(tune_dir(name))])
    error = run_as_job(config, uri, submission, [str(prepared_dir(dataset)), str(reference_dir(dataset))])
    if error:
        raise RemoteJobError(f"the sweep failed on the cluster: {error}")
    return read_json(tune_dir(name) / "summary.json", "sweep summary", f"run `ganlab {name}` again")


def _lost_trials(grid: Any) -> dict[str, str]:
    """Trial id → the cause, for every trial that ended in an error (past ``tune.max_failures`` retries)."""
    return {(result.metrics or {}).get("trial_id") or str(result.path).rsplit("/", 1)[-1]: failure_cause(result.error)
            for result in grid if result.error is not None}


def tune(config: Config, restart: bool = False, name: str = "tune") -> dict[str, Any]:
    """Run (or resume) the sweep of ``config.tune``; returns ``<name>/summary.json``'s content (``name``: the
    ``tune`` stage's outputs, or ``study`` for :mod:`pipeline.tuning.study`).

    Trials that end in an error are reported in the outputs (``trials.csv``'s ``error`` column holds the cause) and
    fail the command once the outputs are written; the sweep is kept, so the next run retries only them."""
    started = time.monotonic()
    _check_sweep(config, name)
    settings = config.tune
    prepared = load_prepared(settings.dataset)
    scorer = trial_scorer(config, prepared)
    metric, mode = objective(config, scorer)
    uri = resolve_tracking_uri(config)
    if jobs_address(config.ray):
        check_submittable(config, uri)
        return _tune_remotely(config, uri, restart, name)
    client = client_for(uri)
    place = SweepPlace.of(storage_root(config.ray.storage), settings.dataset, name)
    commit = git_commit()
    parent_run_id = _parent_run(config, client, place, sweep_fingerprint(config), metric, mode, commit, restart)
    trials = sweep_trials(settings)
    log.info("sweep of %s on %s: %d trial(s), %s search, %s scheduler, objective %s (%s); MLflow run %s in %s",
             ", ".join(settings.variants), settings.dataset, trials, settings.search, settings.scheduler, metric, mode,
             parent_run_id, uri)
    plan = SweepContext(config=config, data=data_spec(prepared), metric=metric, mode=mode, parent_run_id=parent_run_id,
                        git_commit=commit, scratch=place.scratch, coverage_metric=scorer.coverage_metric,
                        tracking_uri=uri, owner=driver_tags())
    grid, fitting = _fit(config, plan, place, client)
    out_of_time = settings.time_budget_s is not None and time.monotonic() - fitting >= settings.time_budget_s
    saved = saved_trials(place)
    unfinished = sum(trial.status not in ("TERMINATED", "ERROR") for trial in saved)
    if unfinished and not out_of_time:
        client.set_terminated(parent_run_id, "KILLED")
        raise SweepInterrupted(f"the sweep was stopped with {unfinished} trial(s) unfinished; run `ganlab tune` "
                               "again to resume it (Tuner.restore), or `ganlab tune --restart` to start over")
    lost = _lost_trials(grid)
    try:
        failures = {trial.trial_id: trial.num_failures for trial in saved}
        summary = write_outputs(config, client, grid, metric, mode, parent_run_id, started, failures, tune_dir(name))
    finally:
        client.set_terminated(parent_run_id, "FAILED" if lost else "FINISHED")
        if not lost:  # every trial ended: nothing to resume (else the next run retries the failed ones)
            place.remove()
    if lost:
        raise TrialsLost(f"{len(lost)} of {len(saved)} trial(s) of the sweep failed: "
                         + "; ".join(f"{trial} ({cause})" for trial, cause in sorted(lost.items()))
                         + f". {tune_dir(name)}/ holds the others' results; run the command again to retry only "
                         "these (from their checkpoints), or with --restart to start over")
    return summary
