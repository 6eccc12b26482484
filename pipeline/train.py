"""The ``train`` stage: one GAN training through Ray Train's ``TorchTrainer``, tracked in MLflow.

The driver resolves the job, opens the MLflow run, runs
:func:`train_loop_per_worker` on ``ray.num_workers`` workers, then exports
the final checkpoint into ``runs/<dataset>/<variant>/seed<k>/``:

* ``model/state.pt`` — the full final checkpoint (resumable);
* ``model/generators.pt`` — final and best generator weights with the network spec;
* ``history.csv`` — per-``log_every`` metrics (``dvc plots``);
* ``train_summary.json`` — run id, steps, speed, best step (``dvc metrics``);
* ``samples.png`` — a sample grid (images) or scatter (2-D points).
"""

from __future__ import annotations

import dataclasses
import contextlib
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch

from analysis.plots import sample_grid_png, scatter_png
from analysis.progress import interactive
from models.networks import NetworkSpec, build_generator
from pipeline.checkpoint import STATE_FILE, CheckpointMismatchError, load_checkpoint
from pipeline.config import Config
from pipeline.files import atomic_path, write_json
from pipeline.job import TrainingJob, resolve_job
from pipeline.logs import configure_logging
from pipeline.layout import model_dir, prepared_dir, ray_storage, reference_dir, resume_dir, run_dir
from pipeline.prepared import load_prepared
from pipeline.ray_runtime import ray_session
from pipeline.scoring import generate
from pipeline.stop_rules import StopRules
from pipeline.step_progress import StepFile, follow_steps
from pipeline.tracking import MetricLogger, client_for, git_commit, resolve_tracking_uri, start_run
from pipeline.train_loop import GANTraining, Hooks, best_or_final, steady_rate

log = logging.getLogger("ganlab.train")
GENERATORS_FILE = "generators.pt"
SAMPLE_SEED = 4321


class TrainingFailed(RuntimeError):
    pass


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """The Ray Train worker function: build, restore if a checkpoint exists, train, report.

    Both nets go through ``prepare_model`` (DDP when there are several
    workers; SyncBatchNorm first when ``ray.sync_batchnorm``). A checkpoint
    comes from Ray after a worker failure (``FailureConfig``) or, on the
    first attempt, from ``resume_from`` when an interrupted stage is re-run
    (a folder every worker can read, like Ray's storage path).
    """
    import ray
    import ray.train
    import ray.train.torch

    configure_logging()
    job: TrainingJob = config["job"]
    torch.set_num_threads(config["threads"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        if config["sync_batchnorm"]:
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return ray.train.torch.prepare_model(module)

    training = GANTraining(job, rank=rank, world=world, device=ray.train.torch.get_device(), wrap=wrap,
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
    metric_logger = MetricLogger(config["tracking_uri"], config["run_id"], resume_key="loss/d") if rank == 0 else None

    def report(metrics: dict[str, float], directory: Path | None) -> None:
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(str(directory)) if directory else None)

    hooks = Hooks(report=report, log_metrics=metric_logger.log if metric_logger else Hooks.log_metrics)
    if config["stop_rules"] is not None:
        hooks.stop_check = config["stop_rules"].reason
    if config["step_file"] and rank == 0:
        hooks.progress = StepFile(Path(config["step_file"]), job.train.steps)
    training.run(hooks)


def find_resumable(job: TrainingJob, storage: Path) -> tuple[Path, dict[str, Any]] | None:
    """The latest checkpoint of this very job (same fingerprint) that an interrupted run left in ``storage``."""
    found = None
    for directory in (storage.resolve() / job.name).glob("checkpoint_*/"):
        try:
            state = load_checkpoint(directory, job.fingerprint())
        except (FileNotFoundError, CheckpointMismatchError) as err:
            log.info("%s: not resuming from %s (%s)", job.name, directory.name, err)
            continue
        if state["step"] <= job.train.steps and (found is None or state["step"] > found[1]["step"]):
            found = (directory, state)
    return found


def run_trainer(job: TrainingJob, config: Config, run_id: str, tracking_uri: str, resume_from: Path | None,
                storage: Path, stop_rules: StopRules | None = None, callbacks: Sequence[Any] = (),
                progress_bar: bool = False) -> Path:
    """Fit on Ray Train (run folder ``storage/<job name>``); returns a directory holding the final checkpoint.

    ``stop_rules`` and ``callbacks`` serve tuning trials that are themselves Ray Train runs;
    ``progress_bar`` draws rank 0's steps on the driver's terminal.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    ray_cfg = config.ray
    storage = storage.resolve()
    step_file = storage / f"{job.name}.step"
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"job": job, "run_id": run_id, "tracking_uri": tracking_uri,
                           "threads": ray_cfg.cpus_per_worker, "sync_batchnorm": ray_cfg.sync_batchnorm,
                           "fail_at_step": ray_cfg.fail_at_step,
                           "fault_marker": str(storage / job.name / "fault-injected"),
                           "resume_from": str(resume_from) if resume_from else None, "stop_rules": stop_rules,
                           "step_file": str(step_file) if progress_bar else None},
        torch_config=TorchConfig(backend="nccl" if ray_cfg.use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=ray_cfg.num_workers, use_gpu=ray_cfg.use_gpu,
                                     resources_per_worker={"CPU": ray_cfg.cpus_per_worker},
                                     placement_strategy=ray_cfg.placement_strategy),
        run_config=RunConfig(name=job.name, storage_path=str(storage), callbacks=list(callbacks),
                             checkpoint_config=CheckpointConfig(num_to_keep=job.train.keep_checkpoints),
                             failure_config=FailureConfig(max_failures=ray_cfg.max_failures)),
    )
    following = follow_steps(step_file, job.train.steps, job.name) if progress_bar else contextlib.nullcontext()
    try:
        with following:
            result = trainer.fit()
    except Exception as err:  # ray.train.TrainingFailedError wraps the worker's exception
        raise TrainingFailed(f"{job.name}: training failed on the Ray workers: {err}") from err
    if result.checkpoint is None:
        raise TrainingFailed(f"{job.name}: Ray Train finished without a checkpoint")
    return Path(result.checkpoint.path)


def export_run(job: TrainingJob, state: dict[str, Any], checkpoint_dir: Path, summary: dict[str, Any]) -> dict[str, Path]:
    """Write the stage's outputs from the final checkpoint (atomically, file by file)."""
    out = run_dir(job.dataset, job.variant, job.seed)
    models = model_dir(job.dataset, job.variant, job.seed)
    if models.exists():
        shutil.rmtree(models)
    models.mkdir(parents=True)
    shutil.copy2(checkpoint_dir / STATE_FILE, models / STATE_FILE)
    generators = best_or_final(state)
    with atomic_path(models / GENERATORS_FILE) as tmp:
        torch.save({"network": dataclasses.asdict(job.network), "final": generators["final"], "best": generators["best"],
                    "final_step": state["step"], "best_step": state["best"]["step"] if state["best"] else state["step"],
                    "ema": state["ema"] is not None, "fingerprint": job.fingerprint()}, tmp)
    history = pd.DataFrame(state["history"])
    with atomic_path(out / "history.csv") as tmp:
        history.to_csv(tmp, index=False)
    write_json(out / "train_summary.json", summary)
    samples = sample_figure(job, generators["final"], out / "samples.png")
    return {"history": out / "history.csv", "summary": out / "train_summary.json", "samples": samples}


def load_generator(network: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    spec = NetworkSpec(**{**network, "data_shape": tuple(network["data_shape"])})
    generator = build_generator(spec)
    generator.load_state_dict(state_dict)
    return generator.eval()


def sample_figure(job: TrainingJob, generator_state: dict[str, torch.Tensor], path: Path) -> Path:
    generator = load_generator(dataclasses.asdict(job.network), generator_state)
    title = f"{job.dataset} · {job.variant} · seed {job.seed}"
    if job.network.data_shape == (2,):
        prepared = load_prepared(job.dataset, Path(job.data_dir))
        import numpy as np

        samples = generate(generator, 2500, job.network.z_dim, SAMPLE_SEED)
        return scatter_png(samples, prepared.train_x[:2500], np.asarray(prepared.manifest["modes"]), path, title)
    return sample_grid_png(generate(generator, 64, job.network.z_dim, SAMPLE_SEED), path, title)


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


def _resume_point(job: TrainingJob, client: Any) -> tuple[Path | None, str | None]:
    """Where an interrupted run of this job left off: a copy of its latest checkpoint and its MLflow run."""
    found = checkpoint_to_resume(job, ray_storage())
    if found is None:
        return None, None
    resume_from, state = found
    run_id = _existing_run(client, state.get("run_id"))
    log.info("%s: resuming the interrupted run from step %d (MLflow run %s)", job.name, state["step"], run_id or "new")
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
    return resume_from, run_id


def _existing_run(client: Any, run_id: str | None) -> str | None:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        return client.get_run(run_id).info.run_id
    except MlflowException:
        return None


def train(config: Config, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """Run one training end to end; returns the summary written to ``train_summary.json``."""
    prepared = load_prepared(dataset)
    job = resolve_job(config, dataset, variant, seed, tuple(prepared.manifest["shape"]), prepared_dir(dataset),
                      reference_dir(dataset))
    uri = resolve_tracking_uri(config)
    client = client_for(uri)
    resume_from, run_id = _resume_point(job, client)
    if run_id is None:
        tags = {"dataset": dataset, "variant": variant, "seed": str(seed), "stage": "train",
                "git_commit": git_commit(), "ganlab.fingerprint": job.fingerprint()}
        params = {**job.as_params(), "global_batch_size": job.global_batch_size, "ray": dataclasses.asdict(config.ray)}
        run_id = start_run(client, config.mlflow.experiment, job.name, params, tags)
    log.info("%s: MLflow run %s in %s; %d worker(s), global batch %d", job.name, run_id, uri,
             job.world_size, job.global_batch_size)
    started = time.time()
    try:
        with ray_session(config.ray):
            checkpoint_dir = run_trainer(job, config, run_id, uri, resume_from, ray_storage(),
                                         progress_bar=interactive())
        state = load_checkpoint(checkpoint_dir, job.fingerprint())
        history = state["history"]
        summary = {
            "run_id": run_id, "steps": state["step"], "diverged_at": state["diverged_at"],
            "best_step": state["best"]["step"] if state["best"] else None,
            "best_metrics": state["best"]["metrics"] if state["best"] else {},
            "wall_time_s": round(time.time() - started, 2),
            "steps_per_s": steady_rate(history),
            "num_workers": job.world_size, "global_batch_size": job.global_batch_size, "workers": state["workers"],
            "replica_digests": state["replicas"], "resumed_from": state["resumed_from"],
            "fingerprint": job.fingerprint(), "variant": variant, "dataset": dataset, "seed": seed,
        }
        outputs = export_run(job, state, checkpoint_dir, summary)
        for path in outputs.values():
            client.log_artifact(run_id, str(path))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    for scratch in (ray_storage() / job.name, resume_dir(ray_storage(), job.name)):  # finished: nothing to resume
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("%s: done in %.0fs (%d steps)%s", job.name, summary["wall_time_s"], summary["steps"],
             f", diverged at step {summary['diverged_at']}" if summary["diverged_at"] else "")
    return summary
