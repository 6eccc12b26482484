"""The ``tune`` stage: a Ray Tune search of the fragile GAN hyperparameters, every trial in MLflow.

``tune.space`` (``lr_g``, ``lr_d``, ``k_d_steps``, ``gp_lambda``, ``batch_size``, ``beta1``;
``tune.variants`` adds the loss variant) is searched by random search, Optuna's
TPE (Bergstra et al. 2011) or an exhaustive grid, under ASHA (Li et al. 2020,
the default), Population Based Training (Jaderberg et al. 2017) or no early
stopping. Each trial is :func:`pipeline.tune_trial.run_trial`: the training
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
import math
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
from ray.tune import Callback

from analysis.progress import progress
from pipeline.config import Config, ConfigError, fingerprint
from pipeline.files import atomic_path, write_json
from pipeline.layout import reference_dir, tune_dir, tune_storage
from pipeline.prepared import PreparedData, load_prepared
from pipeline.ray_runtime import ray_session
from pipeline.scoring import Scorer, build_scorer, direction
from pipeline.stop_rules import ERROR
from pipeline.tracking import client_for, git_commit, resolve_tracking_uri, start_run
from pipeline.tune_results import best_params, best_params_text, best_trial, trial_curve, trial_row
from pipeline.tune_space import PBT_MUTABLE, grid_size, ray_space
from pipeline.tune_trial import TRIAL_ID_TAG, SweepContext, run_trial

log = logging.getLogger("ganlab.tune")


class SweepInterrupted(RuntimeError):
    """The driver was stopped before every trial ended; the sweep can be resumed."""


class SweepFailed(RuntimeError):
    """No trial measured the objective (all diverged or crashed): there is no winner to write."""


def trial_scorer(config: Config, prepared: PreparedData) -> Scorer:
    """The in-training scorer the trials measure the objective with."""
    tune = config.tune
    return build_scorer(prepared, reference_dir(tune.dataset), config.for_dataset(tune.dataset).eval, tune.eval_samples)


def objective(config: Config, scorer: Scorer | None = None) -> tuple[str, str]:
    """(metric, mode) of the sweep, checked against what the dataset's in-training scorer measures."""
    tune = config.tune
    scorer = scorer or trial_scorer(config, load_prepared(tune.dataset))
    names = scorer.metric_names()
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
        mutations = {d.name: d.ray_domain() for d in tune.space if d.name in PBT_MUTABLE}
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


class SweepProgress(Callback):
    """A bar over the sweep's trials (Ray Tune callback): trials ended, trial-steps trained, best objective.

    On a terminal it redraws; in CI and DVC logs it prints a line every
    ``GANLAB_PROGRESS_INTERVAL`` seconds (``analysis.progress``). Created in
    :meth:`setup`, so a restored sweep gets a new bar.
    """

    def __init__(self, metric: str, mode: str) -> None:
        self.metric, self.mode = metric, mode
        self.bar: Any = None
        self.steps: dict[str, int] = {}
        self.best: float | None = None

    def setup(self, total_num_samples: int | None = None, **info: Any) -> None:
        self.bar = progress(total=total_num_samples or 0, description="sweep", unit="trial")

    def on_trial_result(self, trial: Any, result: dict[str, Any], **info: Any) -> None:
        self.steps[trial.trial_id] = int(result.get("step", 0))
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            self.best = value if better else self.best
        self._describe()

    def on_trial_complete(self, trial: Any, **info: Any) -> None:
        self.bar.update(1)
        self._describe()

    on_trial_error = on_trial_complete

    def on_experiment_end(self, **info: Any) -> None:
        self.bar.close()

    def _describe(self) -> None:
        best = "n/a" if self.best is None else f"{self.best:.4g}"
        self.bar.set_postfix_str(f"{sum(self.steps.values())} trial-steps, best {self.metric} {best}", refresh=False)


def _new_tuner(config: Config, trainable: Any, metric: str, mode: str, path: Path) -> Any:
    from ray import tune as ray_tune

    tune = config.tune
    return ray_tune.Tuner(
        trainable,
        param_space=ray_space(tune.space, tune.variants, tune.search, tune.grid_points),
        tune_config=ray_tune.TuneConfig(metric=metric, mode=mode, num_samples=_samples(tune),
                                        scheduler=_scheduler(config), search_alg=_searcher(config, metric, mode),
                                        time_budget_s=tune.time_budget_s, reuse_actors=False,
                                        max_concurrent_trials=_concurrent_trials(tune)),
        run_config=ray_tune.RunConfig(name=path.name, storage_path=str(path.parent),
                                      callbacks=[SweepProgress(metric, mode)],
                                      checkpoint_config=ray_tune.CheckpointConfig(num_to_keep=_checkpoints_kept(tune)),
                                      failure_config=ray_tune.FailureConfig(max_failures=tune.max_failures)),
    )


def _resumable(path: Path, record_file: Path, sweep_id: str, restart: bool) -> dict[str, Any] | None:
    """The resume record of an unfinished sweep with the same settings, else None (stale state removed)."""
    from ray import tune as ray_tune

    record = json.loads(record_file.read_text()) if record_file.is_file() else None
    if record is not None and not restart and record["fingerprint"] == sweep_id and ray_tune.Tuner.can_restore(str(path)):
        return record
    if record is not None or path.exists():
        why = "--restart" if restart else "its settings differ" if record and record["fingerprint"] != sweep_id else "it cannot be restored"
        log.info("not resuming the sweep at %s (%s): starting a new one", path, why)
    shutil.rmtree(path, ignore_errors=True)
    record_file.unlink(missing_ok=True)
    return None


def _saved_trials(path: Path) -> list[Any]:
    """The trials of the experiment state Tune saved on disk (statuses, failure counts).

    Tune saves that state before it stops the remaining trials, so after a Ctrl-C it still says which
    trials were pending or running (the in-memory statuses no longer do).
    """
    from ray.tune import ExperimentAnalysis

    return ExperimentAnalysis(str(path)).trials


def tune(config: Config, restart: bool = False) -> dict[str, Any]:
    """Run (or resume) the sweep of ``config.tune``; returns ``tune/summary.json``'s content."""
    from ray import tune as ray_tune

    settings = config.tune
    started = time.monotonic()
    if settings.dataset not in config.benchmark.datasets:
        raise ConfigError(f"tune.dataset {settings.dataset} is not in benchmark.datasets "
                          f"({', '.join(config.benchmark.datasets)}): `dvc repro` prepares only those, and the "
                          "report shows the sweep beside them; add it there or tune one of them")
    if not settings.space:
        raise ConfigError("tune.space is empty: give at least one of lr_g, lr_d, k_d_steps, gp_lambda, batch_size, "
                          "beta1 (see params.yaml)")
    prepared = load_prepared(settings.dataset)
    scorer = trial_scorer(config, prepared)
    metric, mode = objective(config, scorer)
    uri = resolve_tracking_uri(config)
    client = client_for(uri)
    storage = tune_storage().resolve()
    path, record_file = storage / f"sweep-{settings.dataset}", storage / f"sweep-{settings.dataset}.json"
    sweep_id = sweep_fingerprint(config)
    record = _resumable(path, record_file, sweep_id, restart)
    commit = git_commit()
    if record is None:
        params = {"tune": config.to_dict()["tune"], "metric": metric, "mode": mode}
        parent = start_run(client, config.mlflow.experiment, f"sweep-{settings.dataset}", params,
                           {"stage": "tune", "dataset": settings.dataset, "variant": ",".join(settings.variants),
                            "git_commit": commit, "ganlab.fingerprint": sweep_id})
        record = {"fingerprint": sweep_id, "parent_run_id": parent}
        storage.mkdir(parents=True, exist_ok=True)
        write_json(record_file, record)
    else:
        client.update_run(record["parent_run_id"], status="RUNNING")
        log.info("resuming the stopped sweep at %s (MLflow run %s) with Tuner.restore", path, record["parent_run_id"])
    parent_run_id = record["parent_run_id"]
    trials = grid_size(settings.space, settings.variants, settings.grid_points) if settings.search == "grid" else settings.num_samples
    log.info("sweep of %s on %s: %d trial(s), %s search, %s scheduler, objective %s (%s); MLflow run %s in %s",
             ", ".join(settings.variants), settings.dataset, trials, settings.search, settings.scheduler, metric, mode,
             parent_run_id, uri)
    sweep = SweepContext(config=config, project=str(Path.cwd().resolve()), data_shape=tuple(prepared.manifest["shape"]),
                         metric=metric, mode=mode, parent_run_id=parent_run_id, tracking_uri=uri,
                         git_commit=commit, scratch=str(path.parent / f"{path.name}-scratch"),
                         coverage_metric=scorer.coverage_metric)
    # A multi-worker trial only drives its Ray Train run, whose workers hold the trial's CPUs; Ray wants
    # some resource in every request, so its driver asks for a little memory instead of a CPU.
    resources = ({"cpu": settings.cpus_per_trial} if settings.workers_per_trial == 1
                 else {"cpu": 0, "memory": 64 * 1024**2})
    trainable = ray_tune.with_resources(ray_tune.with_parameters(run_trial, sweep=sweep), resources)
    try:
        with ray_session(config.ray):
            tuner = (ray_tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True,
                                            resume_errored=True) if path.exists()
                     else _new_tuner(config, trainable, metric, mode, path))
            fitting = time.monotonic()
            grid = tuner.fit()
    except BaseException:
        client.set_terminated(parent_run_id, "KILLED")
        raise
    out_of_time = settings.time_budget_s is not None and time.monotonic() - fitting >= settings.time_budget_s
    saved = _saved_trials(path)
    unfinished = sum(trial.status not in ("TERMINATED", "ERROR") for trial in saved)
    if unfinished and not out_of_time:
        client.set_terminated(parent_run_id, "KILLED")
        raise SweepInterrupted(f"the sweep was stopped with {unfinished} trial(s) unfinished; run `ganlab tune` "
                               "again to resume it (Tuner.restore), or `ganlab tune --restart` to start over")
    try:
        failures = {trial.trial_id: trial.num_failures for trial in saved}
        return _write_outputs(config, client, grid, metric, mode, parent_run_id, started, failures)
    finally:  # every trial ended: nothing to resume
        client.set_terminated(parent_run_id, "FINISHED")
        for scratch in (path, Path(sweep.scratch)):
            shutil.rmtree(scratch, ignore_errors=True)
        record_file.unlink(missing_ok=True)


def _write_outputs(config: Config, client: Any, grid: Any, metric: str, mode: str, parent_run_id: str,
                   started: float, failures: dict[str, int]) -> dict[str, Any]:
    settings = config.tune
    hyperparameters = [d.name for d in settings.space] + (["variant"] if len(settings.variants) > 1 else [])
    table = pd.DataFrame([trial_row(result, hyperparameters, metric, mode, settings.steps) for result in grid])
    table["failures"] = [failures.get(trial_id, 0) for trial_id in table["trial_id"]]  # Ray Tune's record of crashes
    children = {run.data.tags.get(TRIAL_ID_TAG): run for run in client.search_runs(
        [client.get_run(parent_run_id).info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")}
    table["mlflow_run_id"] = [children[t].info.run_id if t in children else "" for t in table["trial_id"]]
    for row in table.itertuples():  # Tune's view wins: a trial killed by its scheduler cannot always tag itself
        child = children.get(row.trial_id)
        status = "FAILED" if row.stop_reason == ERROR else "FINISHED"
        if child is not None and (child.data.tags.get("stop_reason"), child.info.status) != (row.stop_reason, status):
            client.set_tag(child.info.run_id, "stop_reason", row.stop_reason)
            client.set_terminated(child.info.run_id, status)
    table = table.sort_values(f"best_{metric}", ascending=mode == "min", na_position="last")
    out = tune_dir()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "trials.csv") as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out / "trial_curves.csv") as tmp:
        pd.concat([trial_curve(result, metric) for result in grid], ignore_index=True).to_csv(tmp, index=False)
    winner = best_trial(table, metric, mode)
    summary: dict[str, Any] = {
        "parent_run_id": parent_run_id, "dataset": settings.dataset, "metric": metric, "mode": mode,
        "scheduler": settings.scheduler, "search": settings.search, "steps": settings.steps,
        "space": [[d.name, d.kind] for d in settings.space], "variants": list(settings.variants),
        "trials": len(table), "trial_steps": int(table["steps"].sum()),
        "stop_reasons": {str(k): int(v) for k, v in table["stop_reason"].value_counts().items()},
        "best": None,
    }
    if winner is not None:
        params = best_params(config, winner, hyperparameters)
        with atomic_path(out / "best_params.yaml") as tmp:
            tmp.write_text(best_params_text(params, winner, metric, parent_run_id))
        summary["best"] = {"trial_id": winner["trial_id"], "mlflow_run_id": winner["mlflow_run_id"],
                           metric: float(winner[f"best_{metric}"]), "step": int(winner["best_step"]),
                           **{name: _plain(winner[name]) for name in hyperparameters}}
        client.set_tag(parent_run_id, "best_trial", winner["trial_id"])
    summary["wall_time_s"] = round(time.monotonic() - started, 1)
    write_json(out / "summary.json", summary)
    from mlflow.entities import Metric

    values = {"trials": len(table), "trial_steps": summary["trial_steps"],
              **{f"trials/{reason}": n for reason, n in summary["stop_reasons"].items()}}
    if summary["best"]:
        values[f"best/{metric}"] = summary["best"][metric]
    client.log_batch(parent_run_id, metrics=[Metric(k, float(v), 0, 0) for k, v in values.items()])
    for name in ("trials.csv", "trial_curves.csv", "best_params.yaml", "summary.json"):
        if (out / name).is_file():
            client.log_artifact(parent_run_id, str(out / name))
    log.info("sweep done: %d trials (%s); best %s = %s\n%s", len(table), summary["stop_reasons"], metric,
             summary["best"][metric] if summary["best"] else "n/a",
             table.drop(columns=["error", "mlflow_run_id"]).to_string(index=False, max_rows=30))
    if winner is None:
        (out / "best_params.yaml").unlink(missing_ok=True)
        raise SweepFailed(f"no trial of the sweep measured {metric} ({summary['stop_reasons']}; see {out / 'trials.csv'}): "
                          "shift or narrow tune.space (e.g. smaller learning rates) and run it again")
    return summary


def _plain(value: Any) -> Any:
    """numpy scalars → Python numbers for JSON."""
    return value.item() if hasattr(value, "item") else value
