"""Ray Train: one training as a ``TorchTrainer`` run of ``ray.num_workers`` workers, each running the loop.

Both of a family's trainable networks go through ``prepare_model`` (DDP when there are several workers;
SyncBatchNorm first when ``ray.sync_batchnorm``); ``FailureConfig`` restarts the worker group from the
latest reported checkpoint; an interrupted run's latest checkpoint is found again by the job's
fingerprint (:func:`checkpoint_to_resume`).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch

from pipeline.cluster.session import require_resources
from pipeline.common.layout import resume_dir
from pipeline.common.logs import configure_logging
from pipeline.config import Config
from pipeline.training.checkpoint import CheckpointMismatchError, load_checkpoint
from pipeline.training.job import TrainingJob
from pipeline.training.loop import LOOP_METRICS, Hooks, TrainingLoop
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
    """The Ray Train worker function: build, restore if a checkpoint exists, train, report.

    The family's trainable nets go through ``prepare_model`` (DDP when there are several
    workers; SyncBatchNorm first when ``ray.sync_batchnorm``). A checkpoint
    comes from Ray after a worker failure (``FailureConfig``) or, on the
    first attempt, from ``resume_from`` when an interrupted stage is re-run
    (a folder every worker can read, like Ray's storage path).
    """
    import ray
    import ray.train
    import ray.train.torch

    configure_logging()
    # Ray Train's per-report INFO lines go through loggers without a level of their own: ganlab's lines say it.
    logging.getLogger().setLevel(logging.WARNING)
    job: TrainingJob = config["job"]
    torch.set_num_threads(job.threads)
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        if config["sync_batchnorm"]:
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return ray.train.torch.prepare_model(module)

    training = TrainingLoop(job, rank=rank, world=world, device=ray.train.torch.get_device(), wrap=wrap,
                            fail_at_step=config["fail_at_step"], fault_marker=Path(config["fault_marker"]),
                            node_id=ray.get_runtime_context().get_node_id(), run_id=config["run_id"])
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            training.restore(Path(directory))
    elif config["resume_from"]:
        training.restore(Path(config["resume_from"]))
    if training.step:
        log.info("%s: worker %d resumed from step %d", job.name, rank, training.step)
    metric_logger = (MetricLogger(config["tracking_uri"], config["run_id"], resume_key=RESUME_KEY,
                                  spool=Path(config["metrics_spool"])) if rank == 0 else None)

    def report(metrics: dict[str, float], directory: Path | None) -> None:
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(directory)) if directory else None)

    hooks = Hooks(report=report, log_metrics=metric_logger.log if metric_logger else Hooks.log_metrics)
    if config["stop_rules"] is not None:
        hooks.stop_check = config["stop_rules"].reason
    training.run(hooks)
    if metric_logger is not None:
        metric_logger.flush()  # rows a tracking outage held back; an error keeps them in the spool for a re-run


def metrics_spool(storage: Path, job: TrainingJob) -> Path:
    """Where rank 0 keeps metric rows the tracking store did not take yet (outside Ray's run folder, which a
    resumed run clears)."""
    return storage.resolve() / f"{job.name}.pending-metrics.jsonl"


def find_resumable(job: TrainingJob, storage: Path) -> tuple[Path, dict[str, Any]] | None:
    """The latest checkpoint of this very job (same fingerprint) that an interrupted run left in ``storage``."""
    found = None
    for directory in (storage.resolve() / job.name).glob("checkpoint_*/"):
        try:
            state = load_checkpoint(directory, job.fingerprint(), flatten(job.shaping_settings()))
        except (FileNotFoundError, CheckpointMismatchError) as err:
            log.info("%s: not resuming from %s (%s)", job.name, directory.name, err)
            continue
        if state["step"] <= job.train.steps and (found is None or state["step"] > found[1]["step"]):
            found = (directory, state)
    return found


def run_trainer(job: TrainingJob, config: Config, run_id: str, tracking_uri: str, resume_from: Path | None,
                storage: Path, stop_rules: StopRules | None = None, callbacks: Sequence[Any] = ()) -> Path:
    """Fit on Ray Train (run folder ``storage/<job name>``); returns a directory holding the final checkpoint.

    ``stop_rules`` and ``callbacks`` serve tuning trials that are themselves Ray Train runs;
    """
    from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    ray_cfg = config.ray
    storage = storage.resolve()
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"job": job, "run_id": run_id, "tracking_uri": tracking_uri,
                           "metrics_spool": str(metrics_spool(storage, job)), "sync_batchnorm": ray_cfg.sync_batchnorm,
                           "fail_at_step": ray_cfg.fail_at_step if job.name in (ray_cfg.fail_runs or (job.name,)) else None,
                           "fault_marker": str(storage / job.name / "fault-injected"),
                           "resume_from": str(resume_from) if resume_from else None, "stop_rules": stop_rules},
        torch_config=TorchConfig(backend="nccl" if ray_cfg.use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=ray_cfg.num_workers, use_gpu=ray_cfg.use_gpu,
                                     resources_per_worker={"CPU": ray_cfg.cpus_per_worker},
                                     placement_strategy=ray_cfg.placement_strategy),
        run_config=RunConfig(name=job.name, storage_path=str(storage), callbacks=list(callbacks),
                             logging_config=LoggingConfig(log_level="WARNING"),  # ganlab's own lines say what happens
                             checkpoint_config=CheckpointConfig(num_to_keep=job.train.keep_checkpoints),
                             failure_config=FailureConfig(max_failures=ray_cfg.max_failures)),
    )
    require_resources(f"{job.name} ({ray_cfg.num_workers} worker(s) × {ray_cfg.cpus_per_worker} CPU)",
                      cpus=ray_cfg.num_workers * ray_cfg.cpus_per_worker, gpus=ray_cfg.num_workers * ray_cfg.use_gpu,
                      nodes=ray_cfg.num_workers if ray_cfg.placement_strategy == "STRICT_SPREAD" else 1,
                      timeout_s=ray_cfg.resource_timeout_s)
    try:
        result = trainer.fit()
    except Exception as err:  # ray.train.TrainingFailedError wraps the worker's exception
        raise TrainingFailed(f"{job.name}: training failed on the Ray workers: {err}") from err
    if result.checkpoint is None:
        raise TrainingFailed(f"{job.name}: Ray Train finished without a checkpoint")
    return Path(result.checkpoint.path)


def checkpoint_to_resume(job: TrainingJob, storage: Path) -> tuple[Path, dict[str, Any]] | None:
    """The latest checkpoint an interrupted run of this job left in ``storage``, copied to
    ``storage/resume/<job name>`` (with its state), because Ray's run folder is cleared for the new run."""
    found = find_resumable(job, storage)
    if found is not None:
        directory, state = found
        resume_from = resume_dir(storage, job.name).resolve()
        shutil.rmtree(resume_from, ignore_errors=True)
        shutil.copytree(directory, resume_from)
        found = (resume_from, state)
    shutil.rmtree(storage / job.name, ignore_errors=True)
    return found
