"""The training loop, written once in the shape Ray Train and Ray Tune expect.

:class:`TrainingLoop` owns one worker's share of a training: the family's networks and
optimisers (:class:`models.family.FamilyRun`), the data shard, the noise stream and the
in-training monitor. It runs the family's step for ``train.steps`` iterations, reports
metrics every ``log_every`` steps and a checkpoint every ``checkpoint_every`` steps through a
:class:`Hooks` object, and restores from a checkpoint when given one, so the same loop runs
bare (tests, benchmarks), under ``TorchTrainer`` (with ``prepare_model`` as ``wrap``) or
inside a Tune trial. It knows nothing of the GAN but the family interface.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from models.families import get_family
from models.family import Batch, Progress, RunContext
from models.schedule import lr_factor
from pipeline.data.shipping import DatasetFolders
from pipeline.data.classifier import feature_network
from pipeline.data.store import training_arrays
from pipeline.scoring.registry import in_training_scorer
from pipeline.tracking.store import flatten
from pipeline.training.batches import ShardedBatches
from pipeline.training.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint, weights_digest
from pipeline.training.job import TrainingJob
from pipeline.training.clock import Clock
from pipeline.training.monitor import Best, Monitor
from pipeline.training.stop_rules import diverging

log = logging.getLogger("ganlab.train")
#: Loop-level statistics → MLflow metric names (the family names its step statistics; metrics are eval/<name>).
LOOP_METRICS = {"steps_per_s": "perf/steps_per_s"}


@dataclass(frozen=True)
class FaultInjection:
    """``ray.fail_at_step``: rank 0 fails once at ``step`` -- its process exits (a crash) or it raises (a bug); the
    ``marker`` (in the run storage, which every node sees) records that it happened, so a restarted worker goes on."""

    step: int
    mode: str
    marker: Any  # a StoragePath: exists() and touch()


class InjectedFault(RuntimeError):
    """The error ``ray.fail_mode: raise`` injects."""


@dataclass
class Hooks:
    """What the loop calls out to; every hook is optional."""

    report: Callable[[dict[str, float], Path | None], None] = lambda metrics, checkpoint: None
    log_metrics: Callable[[int, dict[str, float]], None] = lambda step, metrics: None
    #: Called on rank 0 with each row that carries the in-training metric and the earlier rows;
    #: a returned reason stops the run.
    stop_check: Callable[[dict[str, float], list[dict[str, float]]], str | None] = lambda row, history: None
    #: Called after every step with the step count (a progress bar).
    progress: Callable[[int], None] = lambda step: None


def choose_kernels(deterministic: bool, device: torch.device) -> None:
    """``train.deterministic``: PyTorch's deterministic kernels (an error where an op has none), cuDNN's
    deterministic convolutions without autotuning, and cuBLAS's fixed workspace (PyTorch's reproducibility notes).
    Else, on a GPU, cuDNN's autotuning (the fastest algorithm per shape, timed once: a run's shapes are fixed)."""
    if not deterministic:
        torch.backends.cudnn.benchmark = device.type == "cuda"
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def all_gather(obj: Any, world: int) -> list[Any]:
    """Every worker's ``obj`` on every worker (one collective); ``[obj]`` without a process group."""
    if world == 1 or not torch.distributed.is_initialized():
        return [obj]
    gathered: list[Any] = [None] * world
    torch.distributed.all_gather_object(gathered, obj)
    return gathered


class TrainingLoop:
    """One worker's share of a training (see module docstring).

    Under DDP every worker holds identical weights and optimiser states (DDP
    averages gradients), the same data position, and its own noise stream;
    checkpoints therefore carry every worker's RNG state, and a checkpoint
    can only resume a job with the same number of workers (the fingerprint
    includes it).
    """

    def __init__(self, job: TrainingJob, data: DatasetFolders, *, rank: int = 0, world: int = 1,
                 device: torch.device | str = "cpu", wrap: Callable[[nn.Module], nn.Module] = lambda module: module,
                 fault: FaultInjection | None = None, node_id: str = "", run_id: str = "") -> None:
        if (world, torch.device(device).type) != (job.world_size, job.device_kind):
            raise ValueError(f"job {job.name} was resolved for {job.world_size} worker(s) on {job.device}, started on "
                             f"{world} on {device}")
        self.job, self.rank, self.world, self.device = job, rank, world, torch.device(device)
        choose_kernels(job.train.deterministic, self.device)
        self.fault, self.run_id = fault, run_id
        self.workers = all_gather({"rank": rank, "node_id": node_id, "host": socket.gethostname(), "pid": os.getpid()}, world)
        self.family = get_family(job.family)
        prepared = data.load()
        context = RunContext(self.device, wrap, job.seed, job.train.ema_decay, job.train.precision, job.train.ema_start,
                             job.train.ema_rampup, feature_network(prepared, self.device) if
                             self.family.uses_feature_network else None)
        self.model = self.family.create(job.settings, job.data, context)
        arrays = training_arrays(prepared, self.family.task)
        tensors = {key: torch.as_tensor(values, dtype=torch.float32 if key != "y" else torch.int64, device=self.device)
                   for key, values in arrays.items()}
        self.batches = ShardedBatches(tensors, job.train.batch_size, rank, world, job.seed, job.data.pairing)
        self.monitor: Monitor | None = None
        scorer = in_training_scorer(self.family.task, prepared, data.reference, job.eval,
                                    job.train.eval_samples) if rank == 0 else None
        if scorer is not None:
            self.monitor = Monitor(scorer, self.family, self.family.latent_dim(job.settings), prepared,
                                   job.eval.batch_size, self.device)
        self.step = 0
        self.images_seen = 0  # real images drawn over all workers (Progress.images)
        self.history: list[dict[str, float]] = []
        self.window: list[dict[str, float]] = []  # step statistics since the last history row
        self.diverged_at: int | None = None
        self.stop_reason: str | None = None  # "diverged" or what Hooks.stop_check returned
        self.resumed_from: list[int] = []  # the checkpoint step of every resume (after a crash or an interruption)
        self._best: Best | None = None
        # This worker's own noise stream (z and the penalty's ε), part of the checkpoint.
        self.rng = torch.Generator(device=self.device).manual_seed(job.seed * 1_000_003 + 7919 * (rank + 1))

    # --- state ------------------------------------------------------------------------------

    @property
    def best(self) -> Best | None:
        return self.monitor.best if self.monitor is not None else self._best

    @best.setter
    def best(self, value: Best | None) -> None:
        if self.monitor is not None:
            self.monitor.best = value
        self._best = value

    def sampling_generator(self) -> nn.Module:
        """The network the main sampler draws from (e.g. the EMA copy of G)."""
        return self.model.sampler()

    def samplers(self) -> dict[str, nn.Module]:
        """Every sampler's network by name, the family's main one first."""
        return {name: self.model.sampler(name) for name in self.family.sampler_names()}

    def weights_digest(self) -> str:
        """:func:`pipeline.training.checkpoint.weights_digest` of this worker's networks."""
        return weights_digest({name: module.state_dict() for name, module in self.model.modules().items()})

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint (a collective: every worker contributes its RNG state and weights digest)."""
        return {
            "fingerprint": self.job.fingerprint(),
            "job": flatten(self.job.shaping_settings()),
            "family": self.job.family,
            "step": self.step,
            "images_seen": self.images_seen,
            "model": self.model.state_dict(),
            "rng": all_gather(self.rng.get_state(), self.world),
            "workers": self.workers,
            "replicas": all_gather(self.weights_digest(), self.world),
            "resumed_from": self.resumed_from,
            "run_id": self.run_id,
            "batches": self.batches.state_dict(),
            "history": self.history,
            "window": self.window,
            "diverged_at": self.diverged_at,
            "stop_reason": self.stop_reason,
            "best": None if self.best is None else self.best.as_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.rng.set_state(state["rng"][self.rank])
        self.batches.load_state_dict(state["batches"])
        self.step = int(state["step"])
        self.images_seen = int(state["images_seen"])
        self.history = list(state["history"])
        self.window = list(state["window"])
        self.diverged_at = state["diverged_at"]
        self.stop_reason = state.get("stop_reason")
        self.resumed_from = list(state.get("resumed_from", []))
        self.best = Best.from_state(state["best"])

    def restore(self, directory: Path) -> None:
        """Resume from a checkpoint directory (refusing one of another configuration, naming what differs);
        the step it resumed from is recorded in ``resumed_from``."""
        self.load_state_dict(load_checkpoint(directory, self.job.fingerprint(), flatten(self.job.shaping_settings())))
        self.resumed_from.append(self.step)

    def adopt(self, directory: Path) -> int:
        """Population Based Training's *exploit* (Jaderberg et al. 2017): continue from another
        trial's checkpoint -- weights, optimiser moments, EMA, step, data position, RNG and history --
        with this job's own optimiser settings (the *explore* step changed them).

        The networks must have the same shape; returns the adopted step.
        """
        state = load_checkpoint(directory)
        if state.get("family") != self.job.family:
            raise CheckpointMismatchError(f"checkpoint {directory} is of family {state.get('family')}, "
                                          f"job {self.job.name} of {self.job.family}")
        try:
            self.load_state_dict(state)
        except (RuntimeError, KeyError) as err:  # load_state_dict of networks of another shape
            raise CheckpointMismatchError(f"checkpoint {directory} holds other networks than job {self.job.name} "
                                          f"({err})") from err
        self.model.use_settings(self.job.settings)
        return self.step

    # --- loop ---------------------------------------------------------------------------------

    def sample_z(self, n: int) -> torch.Tensor:
        """``n`` noise vectors from this worker's stream."""
        return torch.randn(n, self.family.latent_dim(self.job.settings), device=self.device, generator=self.rng)

    def run(self, hooks: Hooks | None = None) -> list[dict[str, float]]:
        """Train until ``train.steps`` (or a stop); returns the history rows."""
        hooks = hooks or Hooks()
        train = self.job.train
        clock = Clock(window_step=self.step)
        progress_every = max(train.log_every, math.ceil(train.steps / 10 / train.log_every) * train.log_every)
        while self.step < train.steps and self.stop_reason is None:
            if train.lr_decay != "none":
                self.model.scale_learning_rates(lr_factor(train.lr_decay, self.step, train.steps, train.lr_decay_start))
            stats = self.model.step(self._next_batch, self.rng, Progress(self.step, train.steps, self.images_seen))
            self.step += 1
            hooks.progress(self.step)
            self._maybe_fail()
            self.window.append(stats)
            finite = self._check_finite(stats)
            last = self.step == train.steps or not finite
            if self.step % train.log_every == 0 or self.step % train.eval_every == 0 or last:
                last = self._log_row(hooks, clock, finite, last, progress_every)
            if self.step % train.checkpoint_every == 0 or last:
                report_started = time.perf_counter()
                self._report(hooks, self.history[-1] if self.history else {"step": self.step})
                clock.add_side_work(time.perf_counter() - report_started, in_window=True)
        return self.history

    def _next_batch(self) -> Batch:
        """The next batch of this worker's shard, counted into :attr:`images_seen` (every worker draws as many)."""
        batch = self.batches()
        self.images_seen += len(batch["x"]) * self.world
        return batch

    def _log_row(self, hooks: Hooks, clock: Clock, finite: bool, last: bool, progress_every: int) -> bool:
        """Summarise the window into a history row (with the in-training metric when due), log it; returns
        whether this is now the last step (a stop rule may end the run)."""
        now = time.perf_counter()
        row = self._summarise(self.window, clock.window_rate(self.step, now))
        elapsed = now - clock.started - clock.side_work
        if finite and (self.step % self.job.train.eval_every == 0 or last):
            row.update(self._monitor())
            self.stop_reason = all_gather(hooks.stop_check(row, self.history) if self.rank == 0 else None, self.world)[0]
            if self.stop_reason is not None:
                log.warning("%s: stopped at step %d: %s", self.job.name, self.step, self.stop_reason)
                last = True
            clock.add_side_work(time.perf_counter() - now)
        self.window = []
        clock.new_window(self.step)
        self.history.append(row)
        hooks.log_metrics(self.step, self.metric_names(row))
        if self.rank == 0 and (self.step % progress_every == 0 or last):
            self._print_progress(row, elapsed)
        return last

    def metric_names(self, row: dict[str, float]) -> dict[str, float]:
        """A history row under its stable MLflow names: the family's step metrics, perf/, and eval/<metric>."""
        names = {**self.family.step_metrics, **LOOP_METRICS}
        return {names.get(key, f"eval/{key}"): value for key, value in row.items() if key != "step"}

    def _monitor(self) -> dict[str, float]:
        """In-training metric on rank 0 (empty elsewhere and where no scorer applies)."""
        if self.monitor is None:
            return {}
        return self.monitor.measure(self.samplers(), self.step)

    def _check_finite(self, stats: dict[str, float]) -> bool:
        """False (and the run stopped as diverged) on a non-finite loss or gradient norm of an update that was
        applied, or a mixed-precision loss scale that collapsed; updates the fp16 scaler skipped do not count."""
        bad = diverging(stats)
        overflowed = self.model.overflowed()
        if not bad and not overflowed:
            return True
        self.diverged_at, self.stop_reason = self.step, "diverged"
        why = ("the fp16 loss scale collapsed (even unscaled gradients overflow)" if overflowed and not bad else
               "non-finite " + ", ".join(f"{key} {value}" for key, value in bad.items()))
        log.warning("%s: %s at step %d: training stopped as diverged", self.job.name, why, self.step)
        return False

    def _maybe_fail(self) -> None:
        """Fault injection (:class:`FaultInjection`): rank 0 fails once at that step.

        Before failing the worker waits a few seconds, so that its last reported checkpoint reaches Ray's
        controller, as it would for a worker that fails mid-run rather than milliseconds after a report.
        """
        fault = self.fault
        if self.rank != 0 or fault is None or self.step != fault.step or fault.marker.exists():
            return
        fault.marker.touch()
        log.warning("%s: fault injection at step %d (%s)", self.job.name, self.step, fault.mode)
        time.sleep(5.0)
        if fault.mode == "raise":
            raise InjectedFault(f"{self.job.name}: fault injected at step {self.step} on {socket.gethostname()} "
                                "(ray.fail_at_step)")
        os._exit(1)

    def _summarise(self, window: list[dict[str, float]], steps_per_s: float) -> dict[str, float]:
        keys = list(dict.fromkeys(key for row in window for key in row))  # a side the fp16 scaler skipped is absent
        return {"step": self.step, **{k: float(np.mean([r[k] for r in window if k in r])) for k in keys},
                "steps_per_s": steps_per_s}

    def _print_progress(self, row: dict[str, float], elapsed: float) -> None:
        remaining = (self.job.train.steps - self.step) / max(row["steps_per_s"], 1e-9)
        stats = " ".join(f"{key} {value:.4g}" for key, value in row.items()
                         if key in self.family.step_metrics and not key.startswith("skipped"))
        extras = " ".join(f"{k}={v:.4g}" for k, v in row.items()
                          if k not in self.family.step_metrics and k not in LOOP_METRICS and k != "step")
        log.info("%s step %d/%d (%.0f%%) %.1f it/s, %.0fs elapsed, ~%.0fs left | %s %s",
                 self.job.name, self.step, self.job.train.steps, 100 * self.step / self.job.train.steps,
                 row["steps_per_s"], elapsed, remaining, stats, extras)

    def _report(self, hooks: Hooks, row: dict[str, float]) -> None:
        metrics = {"step": self.step, **{k: v for k, v in row.items() if isinstance(v, (int, float))},
                   "stop_reason": self.stop_reason or ""}
        state = self.state_dict()  # a collective: every worker contributes its RNG state
        if self.rank != 0:
            hooks.report(metrics, None)
            return
        with tempfile.TemporaryDirectory(prefix="ganlab-ckpt-") as tmp:
            save_checkpoint(Path(tmp), state)
            hooks.report(metrics, Path(tmp))
