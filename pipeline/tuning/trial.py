"""One Ray Tune trial: the training loop of ``ganlab train`` (:class:`TrainingLoop`) with a sampled config.

Every ``tune.eval_every`` steps the trial measures the objective with the
in-training scorer and reports it to Tune together with a checkpoint (what
ASHA compares, what PBT exploits, what a crashed trial restarts from). The
trial stops itself on divergence, a discriminator that wins completely, or
mode collapse (:mod:`pipeline.stop_rules`), recording the reason.

With ``tune.workers_per_trial: 1`` (default) the loop runs in the trial's own
process; with more, the trial is ``ganlab train``'s Ray Train run (DDP over
that many workers) and only drives it.

Tracking: each trial is an MLflow child run of the sweep's parent run,
found again by its Tune trial id, so a trial restarted after a crash, after a
PBT exploit or by ``Tuner.restore`` keeps logging into the same run, and
:class:`MetricLogger` skips the steps that run already holds.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

from models.families import get_variant
from models.family import DataSpec
from pipeline.cluster.session import ClusterContext
from pipeline.cluster.storage import StoragePath
from pipeline.common.logs import configure_logging
from pipeline.config import Config
from pipeline.data.shipping import DatasetFolders, ShippedDataset
from pipeline.tracking.store import MetricLogger, experiment_id, start_run
from pipeline.training.checkpoint import load_checkpoint
from pipeline.training.job import TrainingJob, resolve_job
from pipeline.training.loop import FaultInjection, Hooks, TrainingLoop
from pipeline.training.places import RunPlaces
from pipeline.training.ray_train import RESUME_KEY
from pipeline.training.stop_rules import COMPLETED, EARLY_STOPPED, ERROR, StopRules
from pipeline.tuning.space import SEED_KEY, trial_settings

log = logging.getLogger("ganlab.tune")
TRIAL_FILE = "trial.json"  # written into each reported checkpoint: which trial made it
#: Tags and params every child run carries, found by the driver when the sweep ends.
TRIAL_ID_TAG = "ganlab.trial_id"
#: Tag of a child run whose trial resumed from its own checkpoint: the steps it resumed from.
RESUMED_TAG = "ganlab.resumed_from"


@dataclass(frozen=True)
class SweepContext:
    """What every trial of a sweep shares (sent once to Ray's object store by ``tune.with_parameters``); nothing in
    it is a path of the driver's disk."""

    config: Config
    data: DataSpec
    metric: str
    mode: str
    parent_run_id: str
    tracking_uri: str
    git_commit: str
    scratch: StoragePath  # in the run storage: fault markers, held-back metric rows, multi-worker trials' Ray Train runs
    coverage_metric: str | None  # what the mode-collapse rule watches (modes<N>, classes<N>)
    owner: Mapping[str, str]  # MLflow tags naming the driver process (``pipeline.tracking.store.driver_tags``)
    cluster: ClusterContext | None = None  # set once the Ray session is open
    shipped: ShippedDataset | None = None

    def settings(self, sample: dict[str, Any]) -> tuple[Config, TrainingJob]:
        config, variant = trial_settings(self.config, self.config.tune.dataset, sample)
        seed = int(sample.get(SEED_KEY, self.config.tune.seed))
        return config, resolve_job(config, self.config.tune.dataset, variant, seed, self.data)

    def stop_rules(self, job: TrainingJob) -> StopRules:
        tune = self.config.tune
        return StopRules(after_step=tune.stop_after_step, d_fake_below=tune.stop_d_fake_below,
                         grad_g_below=tune.stop_grad_g_below, coverage_at_most=tune.stop_coverage_at_most,
                         coverage_metric=self.coverage_metric,
                         probabilistic=get_variant(job.variant).loss.probabilistic)


def child_run(client: Any, sweep: SweepContext, trial_id: str, job: TrainingJob, sample: dict[str, Any]) -> str:
    """This trial's MLflow run under the sweep's parent: the existing one, or a new one."""
    experiment = experiment_id(client, sweep.config.mlflow.experiment)  # the driver created it
    existing = client.search_runs([experiment], filter_string=(
        f"tags.`mlflow.parentRunId` = '{sweep.parent_run_id}' and tags.`{TRIAL_ID_TAG}` = '{trial_id}'"))
    if existing:
        client.update_run(existing[0].info.run_id, status="RUNNING")
        return existing[0].info.run_id
    tags = {"mlflow.parentRunId": sweep.parent_run_id, TRIAL_ID_TAG: trial_id, "stage": "tune-trial",
            "dataset": job.dataset, "variant": job.variant, "seed": str(job.seed), "git_commit": sweep.git_commit}
    params = {"tune": dict(sample), **job.as_params()}
    return start_run(client, sweep.config.mlflow.experiment, f"{job.name}-{trial_id}", params, tags, sweep.owner)


def run_trial(sample: dict[str, Any], sweep: SweepContext) -> None:
    """The Ray Tune function trainable (see module docstring)."""
    import ray.tune
    from mlflow.tracking import MlflowClient

    configure_logging()
    trial_id = ray.tune.get_context().get_trial_id()
    config, job = sweep.settings(sample)
    sweep.cluster.check_code(job.family, f"trial {trial_id} on {socket.gethostname()}")
    client = MlflowClient(tracking_uri=sweep.tracking_uri)
    run_id = child_run(client, sweep, trial_id, job, sample)
    rules = sweep.stop_rules(job)
    if job.world_size > 1:
        _run_ray_train_trial(config, job, sweep, trial_id, run_id, sample, rules, client)
        return
    torch.set_num_threads(job.threads)
    with sweep.shipped.folders() as folders:
        _run_in_process(config, job, folders, sweep, trial_id, run_id, sample, rules, client)


def _run_in_process(config: Config, job: TrainingJob, folders: DatasetFolders, sweep: SweepContext, trial_id: str,
                    run_id: str, sample: dict[str, Any], rules: StopRules, client: Any) -> None:
    """A trial whose training loop runs in its own process (``tune.workers_per_trial: 1``)."""
    import ray.tune

    fault = (FaultInjection(config.ray.fail_at_step, config.ray.fail_mode, sweep.scratch / "faults" / trial_id)
             if config.ray.fail_at_step else None)
    training = TrainingLoop(job, folders, device=job.device_kind, fault=fault, run_id=run_id)
    donor = _restore(training, trial_id)
    logger = MetricLogger(sweep.tracking_uri, run_id, resume_key=RESUME_KEY,
                          spool=sweep.scratch / "metrics" / f"{trial_id}.jsonl")
    client.log_batch(run_id, metrics=_hyperparameter_metrics(sample, training.step))
    if donor is not None:
        client.set_tag(run_id, "pbt.last_exploit", f"trial {donor['trial_id']} at step {training.step}")
        client.set_tag(run_id, "pbt.donor_weights_sha256", donor["weights_sha256"])
        client.set_tag(run_id, "pbt.adopted_weights_sha256", training.weights_digest())
    elif training.resumed_from:
        client.set_tag(run_id, RESUMED_TAG, ",".join(map(str, training.resumed_from)))

    def report(metrics: dict[str, float], directory: Path | None) -> None:
        result = {sweep.metric: math.nan, **metrics}
        checkpoint = None
        if directory is not None:
            (directory / TRIAL_FILE).write_text(json.dumps({"trial_id": trial_id, "step": training.step,
                                                            "weights_sha256": training.weights_digest()}))
            checkpoint = ray.tune.Checkpoint.from_directory(str(directory))
        ray.tune.report(result, checkpoint=checkpoint)

    with _ended(client, run_id, lambda: (training.stop_reason, training.step >= job.train.steps)):
        training.run(Hooks(report=report, log_metrics=logger.log, stop_check=rules.reason))
        logger.flush()


def _run_ray_train_trial(config: Config, job: TrainingJob, sweep: SweepContext, trial_id: str, run_id: str,
                         sample: dict[str, Any], rules: StopRules, client: Any) -> None:
    """A trial that is itself a Ray Train run (``tune.workers_per_trial > 1``): ``ganlab train``'s
    TorchTrainer, whose rank-0 reports reach Tune through ``TuneReportCallback``. Its checkpoints stay
    in Ray Train's run folder; a retried trial resumes from the latest one."""
    from ray.tune.integration.ray_train import TuneReportCallback

    from pipeline.training.ray_train import checkpoint_to_resume, run_trainer

    places = RunPlaces(sweep.scratch / "train" / trial_id, job.name)
    found = checkpoint_to_resume(job, places)
    client.log_batch(run_id, metrics=_hyperparameter_metrics(sample, found[1]["step"] if found else 0))
    final: dict[str, Any] = {}
    with _ended(client, run_id, lambda: (final.get("stop_reason"), final.get("step", 0) >= job.train.steps)):
        directory = run_trainer(job, config, run_id, sweep.cluster, sweep.shipped, places, found[0] if found else None,
                                stop_rules=rules, callbacks=[TuneReportCallback()])
        with directory.as_local() as local:
            final.update(load_checkpoint(local, job.fingerprint()))


@contextmanager
def _ended(client: Any, run_id: str, outcome: Callable[[], tuple[str | None, bool]]) -> Iterator[None]:
    """Tag the child run with why the trial ended and close it. ``outcome()`` gives (the rule that
    stopped the training or None, whether it trained its full budget)."""

    def finish(status: str, otherwise: str) -> None:
        reason, full = outcome()
        client.set_tag(run_id, "stop_reason", reason or (COMPLETED if full else otherwise))
        client.set_terminated(run_id, status)

    try:
        yield
    except SystemExit:  # how Ray Tune ends a trial that its scheduler stopped, inside report()
        finish("FINISHED", EARLY_STOPPED)
        raise
    except BaseException:
        finish("FAILED", ERROR)
        raise
    finish("FINISHED", COMPLETED)


def _restore(training: TrainingLoop, trial_id: str) -> dict[str, Any] | None:
    """Continue from Tune's checkpoint, if any: this trial's own (crash, ``Tuner.restore``) or, after a
    PBT exploit, another trial's -- then returns that trial's record (its id, step and weights digest)."""
    import ray.tune

    checkpoint = ray.tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as directory:
        origin = json.loads((Path(directory) / TRIAL_FILE).read_text())
        if origin["trial_id"] == trial_id:
            training.restore(Path(directory))
            log.info("trial %s resumed from its checkpoint at step %d", trial_id, training.step)
            return None
        training.adopt(Path(directory))
    log.info("trial %s exploits trial %s: weights of step %d, own hyperparameters", trial_id, origin["trial_id"],
             training.step)
    return origin


def _hyperparameter_metrics(sample: dict[str, Any], step: int) -> list[Any]:
    """The numeric hyperparameters as metrics ``hparam/<name>`` at ``step``: PBT changes them mid-run,
    which params (immutable in MLflow) cannot show."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(f"hparam/{name}", float(value), now, step) for name, value in sample.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)]
