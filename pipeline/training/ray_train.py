"""Ray Train: one training as a ``TorchTrainer`` run of ``ray.num_workers`` workers, each running the loop.

Both of a family's trainable networks go through ``prepare_model`` (DDP when there are several workers;
SyncBatchNorm first when ``ray.sync_batchnorm``); ``FailureConfig`` restarts the worker group from the
latest reported checkpoint. Checkpoints go to the run storage (:class:`pipeline.training.places.RunPlaces`), so a
worker on any node can save them and the next attempt, on any node, resumes the latest one of the same job
(:func:`checkpoint_to_resume`); the prepared data reaches every worker through Ray's object store, and every
worker checks that it runs the driver's code.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from pipeline.cluster.failures import failure_cause
from pipeline.cluster.resources import RunDemand, require_resources
from pipeline.cluster.session import ClusterContext, local_instance
from pipeline.cluster.storage import StoragePath
from pipeline.common.logs import configure_logging
from pipeline.config import Config
from pipeline.data.shipping import ShippedDataset
from pipeline.training.checkpoint import CheckpointMismatchError, load_checkpoint
from pipeline.training.job import TrainingJob
from pipeline.training.loop import LOOP_METRICS, FaultInjection, Hooks, TrainingLoop
from pipeline.training.places import RunPlaces
from pipeline.tracking.store import MetricLogger, flatten
from pipeline.training.stop_rules import StopRules

log = logging.getLogger("ganlab.train")


#: The metric every history row logs: a restarted run skips the steps its MLflow run already holds for it.
RESUME_KEY = LOOP_METRICS["steps_per_s"]


class TrainingFailed(RuntimeError):
    """Ray Train ended the run without a result (a worker failed past its retries)."""


class TrainingInterrupted(RuntimeError):
    """The train stage was stopped before every run ended; their checkpoints are kept for the next run."""


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """The Ray Train worker function: check the code, fetch the data, build, restore if a checkpoint exists, train.

    A checkpoint comes from Ray after a worker failure (``FailureConfig``) or, on the first attempt, from
    ``resume_from`` (a folder of the run storage) when an interrupted run is trained again.
    """
    import ray
    import ray.train
    import ray.train.torch

    configure_logging()
    # Ray Train's per-report INFO lines go through loggers without a level of their own: ganlab's lines say it.
    logging.getLogger().setLevel(logging.WARNING)
    job: TrainingJob = config["job"]
    cluster: ClusterContext = config["cluster"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    cluster.check_code(job.family, f"worker {rank} of {job.name} on {socket.gethostname()}")
    torch.set_num_threads(job.threads)

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        if config["sync_batchnorm"]:
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return ray.train.torch.prepare_model(module)

    data: ShippedDataset = config["data"]
    with data.folders() as folders:
        training = TrainingLoop(job, folders, rank=rank, world=world, device=ray.train.torch.get_device(), wrap=wrap,
                                fault=config["fault"], node_id=ray.get_runtime_context().get_node_id(),
                                run_id=config["run_id"])
        _resume_worker(training, ray.train.get_checkpoint(), config["resume_from"])
        metric_logger = (MetricLogger(cluster.tracking_uri, config["run_id"], resume_key=RESUME_KEY,
                                      spool=config["spool"]) if rank == 0 else None)

        def report(metrics: dict[str, float], directory: Path | None) -> None:
            checkpoint = ray.train.Checkpoint.from_directory(str(directory)) if directory else None
            ray.train.report(metrics, checkpoint=checkpoint)

        hooks = Hooks(report=report, log_metrics=metric_logger.log if metric_logger else Hooks.log_metrics)
        if config["stop_rules"] is not None:
            hooks.stop_check = config["stop_rules"].reason
        training.run(hooks)
    if metric_logger is not None:
        metric_logger.flush()  # rows a tracking outage held back; an error keeps them in the spool for a re-run


def _resume_worker(training: TrainingLoop, checkpoint: Any, resume_from: StoragePath | None) -> None:
    """Continue from Ray's checkpoint (a restarted worker group), else from ``resume_from``, else start at 0."""
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            training.restore(Path(directory))
    elif resume_from is not None:
        with resume_from.as_local() as directory:
            training.restore(directory)
    if training.step:
        log.info("%s: worker %d resumed from step %d", training.job.name, training.rank, training.step)


def _state_of(job: TrainingJob, directory: StoragePath) -> dict[str, Any] | None:
    """The checkpoint in ``directory`` if it belongs to this very job (same fingerprint), else None."""
    try:
        with directory.as_local() as local:
            return load_checkpoint(local, job.fingerprint(), flatten(job.shaping_settings()))
    except (FileNotFoundError, CheckpointMismatchError) as err:
        log.info("%s: not resuming from %s (%s)", job.name, directory.location, err)
        return None


def find_resumable(job: TrainingJob, places: RunPlaces) -> tuple[StoragePath, dict[str, Any]] | None:
    """The latest checkpoint of this very job that an interrupted run left: in Ray's run folder, or the copy an
    earlier attempt made (an attempt stopped before its first checkpoint leaves only that)."""
    candidates = [folder for folder in places.run_folder.children() if folder.name.startswith("checkpoint_")]
    found = None
    for directory in candidates + ([places.resume] if places.resume.exists() else []):
        state = _state_of(job, directory)
        if state is not None and state["step"] <= job.train.steps and (found is None or state["step"] > found[1]["step"]):
            found = (directory, state)
    return found


def checkpoint_to_resume(job: TrainingJob, places: RunPlaces) -> tuple[StoragePath, dict[str, Any]] | None:
    """The latest checkpoint an interrupted run of this job left, copied to ``places.resume`` (with its state),
    because Ray's run folder is cleared for the new run. Checkpoints that cannot resume it (an interrupted run of
    other settings) are moved aside (:func:`keep_superseded`), not deleted."""
    found = find_resumable(job, places)
    if found is None:
        keep_superseded(job, places)
    elif found[0] != places.resume:
        found[0].copy_to(places.resume)
        found = (places.resume, found[1])
    places.run_folder.rmtree()
    return found


def keep_superseded(job: TrainingJob, places: RunPlaces) -> StoragePath | None:
    """Move the checkpoints an interrupted run of other settings left for this run to
    ``places.superseded/<time>/`` (a params change must not silently delete hours of training); returns it."""
    left = [folder for folder in places.run_folder.children()
            if folder.name.startswith("checkpoint_") and not folder.is_file()]  # not Ray's checkpoint_manager_*.json
    left += [places.resume] if places.resume.exists() else []
    if not left:
        return None
    target = places.superseded / time.strftime("%Y%m%d-%H%M%S")
    for folder in left:
        folder.copy_to(target / folder.name)
    places.resume.rmtree()
    log.warning("%s: %d checkpoint(s) an interrupted run of other settings left do not fit this run; moved to %s "
                "(resume them by restoring those settings; delete the folder once unneeded)", job.name, len(left),
                target.location)
    return target


def _fault(config: Config, job: TrainingJob, places: RunPlaces) -> FaultInjection | None:
    ray_cfg = config.ray
    if ray_cfg.fail_at_step is None or job.name not in (ray_cfg.fail_runs or (job.name,)):
        return None
    return FaultInjection(ray_cfg.fail_at_step, ray_cfg.fail_mode, places.fault_marker)


def run_trainer(job: TrainingJob, config: Config, run_id: str, cluster: ClusterContext, data: ShippedDataset,
                places: RunPlaces, resume_from: StoragePath | None, stop_rules: StopRules | None = None,
                callbacks: Sequence[Any] = ()) -> StoragePath:
    """Fit on Ray Train (run folder ``places.run_folder``); returns the storage folder of the final checkpoint.

    ``stop_rules`` and ``callbacks`` serve tuning trials that are themselves Ray Train runs.
    """
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from pipeline.cluster.loopback_torch import torch_config

    ray_cfg = config.ray
    demand = RunDemand.of(ray_cfg)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"job": job, "run_id": run_id, "cluster": cluster, "data": data, "spool": places.spool,
                           "sync_batchnorm": ray_cfg.sync_batchnorm, "fault": _fault(config, job, places),
                           "resume_from": resume_from, "stop_rules": stop_rules},
        torch_config=torch_config("nccl" if ray_cfg.use_gpu else "gloo", local=local_instance()),
        scaling_config=ScalingConfig(**demand.scaling_options(ray_cfg)),
        run_config=RunConfig(name=job.name, **places.ray.ray_options(), callbacks=list(callbacks),
                             logging_config=LoggingConfig(log_level="WARNING"),  # ganlab's own lines say what happens
                             checkpoint_config=CheckpointConfig(num_to_keep=job.train.keep_checkpoints),
                             failure_config=FailureConfig(max_failures=ray_cfg.max_failures)),
    )
    require_resources(f"{job.name} ({demand.describe()})", demand, ray_cfg.resource_timeout_s, local_instance())
    try:
        result = trainer.fit()
    except Exception as err:  # ray.train.TrainingFailedError wraps the worker's exception
        raise TrainingFailed(f"on the Ray workers: {failure_cause(err)}") from err
    if result.checkpoint is None:
        raise TrainingFailed(f"{job.name}: Ray Train finished without a checkpoint")
    final = result.checkpoint
    return StoragePath(final.filesystem, final.path, f"{places.run_folder.location}/{Path(final.path).name}")
