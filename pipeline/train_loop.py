"""The training loop, written once in the shape Ray Train and Ray Tune expect.

:class:`GANTraining` owns the nets, optimisers, data shard and RNG state of
one worker and runs Algorithm 1 (``models.step.train_step``) for
``train.steps`` generator updates. It reports metrics every ``log_every``
steps and a checkpoint every ``checkpoint_every`` steps through a
:class:`Hooks` object, and restores from a checkpoint when given one, so the
same loop runs bare (tests, benchmarks), under ``TorchTrainer`` (with
``prepare_model`` as ``wrap``) or inside a Tune trial.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from models.networks import build_discriminator, build_generator
from models.regularisers import ExponentialMovingAverage
from models.step import Precision, StepStats, build_optimiser, train_step, unwrap
from pipeline.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint, weights_digest
from pipeline.job import TrainingJob
from pipeline.prepared import load_prepared
from pipeline.scoring import Scorer, build_scorer, generate

log = logging.getLogger("ganlab.train")

#: Step statistics → MLflow metric names (stable, so the compare view lines runs up).
METRIC_NAMES = {
    "loss_d": "loss/d", "loss_g": "loss/g", "d_real": "d/real", "d_fake": "d/fake",
    "grad_norm_d": "grad_norm/d", "grad_norm_g": "grad_norm/g", "penalty": "penalty/gp",
    "wasserstein": "wasserstein/estimate", "steps_per_s": "perf/steps_per_s",
    "skipped_d": "amp/skipped_d", "skipped_g": "amp/skipped_g",
}
#: Noise seed of the in-training monitor (fixed, so successive scores are comparable).
MONITOR_SEED = 1234


def mlflow_names(row: dict[str, float]) -> dict[str, float]:
    return {METRIC_NAMES.get(k, f"eval/{k}"): v for k, v in row.items() if k != "step"}


class ShardedBatches:
    """Minibatches of one worker's shard, reshuffled every epoch.

    Epoch ``e`` uses the permutation drawn from seed ``(seed, e)``; worker ``r``
    of ``W`` takes positions ``r, r+W, r+2W, …`` of it, so shards are disjoint
    and all have ``N // W`` samples. The last partial batch of an epoch is
    dropped. The state is just ``(epoch, position)``.
    """

    def __init__(self, data: Tensor, batch_size: int, rank: int, world: int, seed: int) -> None:
        self.shard_size = len(data) // world
        if self.shard_size < batch_size:
            raise ValueError(f"{len(data)} samples cannot fill a batch of {batch_size} on each of {world} worker(s)")
        self.data, self.batch_size, self.rank, self.world, self.seed = data, batch_size, rank, world, seed
        self.epoch, self.position = 0, 0
        self._order = self._shard(0)

    def _shard(self, epoch: int) -> Tensor:
        rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        permutation = torch.randperm(len(self.data), generator=rng)
        return permutation[self.rank :: self.world][: self.shard_size].to(self.data.device)

    def __call__(self) -> Tensor:
        if self.position + self.batch_size > self.shard_size:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._shard(self.epoch)
        index = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.data[index]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._shard(self.epoch)


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


@dataclass
class Best:
    step: int
    key: tuple[float, ...]
    metrics: dict[str, float]
    generator: dict[str, Tensor] = field(repr=False)


def all_gather(obj: Any, world: int) -> list[Any]:
    """Every worker's ``obj`` on every worker (one collective); ``[obj]`` without a process group."""
    if world == 1 or not torch.distributed.is_initialized():
        return [obj]
    gathered: list[Any] = [None] * world
    torch.distributed.all_gather_object(gathered, obj)
    return gathered


class GANTraining:
    """One worker's share of a GAN training (see module docstring).

    Under DDP every worker holds identical weights and optimiser states (DDP
    averages gradients), the same data position, and its own noise stream;
    checkpoints therefore carry every worker's RNG state, and a checkpoint
    can only resume a job with the same number of workers (the fingerprint
    includes it).
    """

    def __init__(self, job: TrainingJob, *, rank: int = 0, world: int = 1, device: torch.device | str = "cpu",
                 wrap: Callable[[nn.Module], nn.Module] = lambda module: module, fail_at_step: int | None = None,
                 fault_marker: Path | None = None, node_id: str = "", run_id: str = "") -> None:
        if world != job.world_size:
            raise ValueError(f"job {job.name} was resolved for {job.world_size} worker(s), started on {world}")
        self.job, self.rank, self.world, self.device = job, rank, world, torch.device(device)
        self.fail_at_step, self.fault_marker, self.run_id = fail_at_step, fault_marker, run_id
        self.workers = all_gather({"rank": rank, "node_id": node_id, "host": socket.gethostname(), "pid": os.getpid()}, world)
        with torch.random.fork_rng(devices=[]):  # identical initial weights on every worker; global RNG untouched
            torch.manual_seed(job.seed)
            generator, discriminator = build_generator(job.network), build_discriminator(job.network)
        self.generator = wrap(generator.to(self.device))
        self.discriminator = wrap(discriminator.to(self.device))
        opt = job.optimiser
        self.opt_g = build_optimiser(opt.name, self.generator.parameters(), opt.lr_g, opt.betas)
        self.opt_d = build_optimiser(opt.name, self.discriminator.parameters(), opt.lr_d, opt.betas)
        self.ema = (ExponentialMovingAverage(unwrap(self.generator), job.train.ema_decay)
                    if job.train.ema_decay else None)
        self.precision = Precision.create(job.train.precision, self.device.type)
        self.objective = job.objective()
        prepared = load_prepared(job.dataset, Path(job.data_dir))
        data = torch.as_tensor(prepared.train_x, dtype=torch.float32, device=self.device)
        self.batches = ShardedBatches(data, job.train.batch_size, rank, world, job.seed)
        self.scorer: Scorer | None = None
        if rank == 0:
            self.scorer = build_scorer(prepared, Path(job.reference_dir), job.eval, job.train.eval_samples)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.window: list[StepStats] = []  # steps since the last history row
        self.best: Best | None = None
        self.diverged_at: int | None = None
        self.stop_reason: str | None = None  # "diverged" or what Hooks.stop_check returned
        self.resumed_from: list[int] = []  # the checkpoint step of every resume (after a crash or an interruption)
        # This worker's own noise stream (z and the penalty's ε), part of the checkpoint.
        self.rng = torch.Generator(device=self.device).manual_seed(job.seed * 1_000_003 + 7919 * (rank + 1))

    # --- state ------------------------------------------------------------------------------

    def sampling_generator(self) -> nn.Module:
        """The generator that samples are drawn from: the EMA copy when enabled."""
        return self.ema.module if self.ema is not None else unwrap(self.generator)

    def state_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.job.fingerprint(),
            "step": self.step,
            "generator": unwrap(self.generator).state_dict(),
            "discriminator": unwrap(self.discriminator).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": all_gather(self.rng.get_state(), self.world),
            "scalers": {name: scaler.state_dict() for name, scaler in self._scalers().items()},
            "workers": self.workers,
            "replicas": all_gather(self.weights_digest(), self.world),
            "resumed_from": self.resumed_from,
            "run_id": self.run_id,
            "batches": self.batches.state_dict(),
            "history": self.history,
            "window": [stats.as_dict() for stats in self.window],
            "diverged_at": self.diverged_at,
            "stop_reason": self.stop_reason,
            "best": None if self.best is None else {
                "step": self.best.step, "key": list(self.best.key), "metrics": self.best.metrics,
                "generator": self.best.generator},
            "network": dataclasses.asdict(self.job.network),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.generator).load_state_dict(state["generator"])
        unwrap(self.discriminator).load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.rng.set_state(state["rng"][self.rank])
        for name, scaler in self._scalers().items():
            scaler.load_state_dict(state["scalers"][name])
        self.batches.load_state_dict(state["batches"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        absent = dict.fromkeys(field.name for field in dataclasses.fields(StepStats))
        self.window = [StepStats(**{**absent, **stats}) for stats in state["window"]]
        self.diverged_at = state["diverged_at"]
        self.stop_reason = state.get("stop_reason")
        self.resumed_from = list(state.get("resumed_from", []))
        best = state["best"]
        self.best = None if best is None else Best(best["step"], tuple(best["key"]), best["metrics"], best["generator"])

    def restore(self, directory: Path) -> None:
        """Resume from a checkpoint directory (refusing one of another configuration); the step it resumed
        from is recorded in ``resumed_from``."""
        self.load_state_dict(load_checkpoint(directory, self.job.fingerprint()))
        self.resumed_from.append(self.step)

    def weights_digest(self) -> str:
        """:func:`pipeline.checkpoint.weights_digest` of this worker's G and D."""
        return weights_digest({"generator": unwrap(self.generator).state_dict(),
                               "discriminator": unwrap(self.discriminator).state_dict()})

    def adopt(self, directory: Path) -> int:
        """Population Based Training's *exploit* (Jaderberg et al. 2017): continue from another
        trial's checkpoint -- weights, optimiser moments, EMA, step, data position, RNG and history --
        with this job's own learning rates, betas and k (the *explore* step changed them).

        The networks must have the same shape; returns the adopted step.
        """
        state = load_checkpoint(directory)
        if state.get("network") != dataclasses.asdict(self.job.network):
            raise CheckpointMismatchError(f"checkpoint {directory} holds other networks than job {self.job.name}")
        self.load_state_dict(state)
        settings = self.job.optimiser
        for optimiser, lr in ((self.opt_g, settings.lr_g), (self.opt_d, settings.lr_d)):
            for group in optimiser.param_groups:
                group["lr"] = lr
                if "betas" in group:
                    group["betas"] = settings.betas
        return self.step

    def _scalers(self) -> dict[str, torch.amp.GradScaler]:
        pairs = {"d": self.precision.scaler_d, "g": self.precision.scaler_g}
        return {name: scaler for name, scaler in pairs.items() if scaler is not None}

    # --- loop ---------------------------------------------------------------------------------

    def sample_z(self, n: int) -> Tensor:
        return torch.randn(n, self.job.network.z_dim, device=self.device, generator=self.rng)

    def _monitor(self) -> dict[str, float]:
        """In-training metric on rank 0; keeps the best generator seen."""
        if self.scorer is None or self.scorer.kind == "none":
            return {}
        sampler = self.sampling_generator()
        samples = generate(sampler, self.scorer.n_samples, self.job.network.z_dim, MONITOR_SEED,
                           self.job.eval.batch_size, self.device)
        metrics = self.scorer.score(samples)
        key = self.scorer.rank_key(metrics)
        if self.best is None or key > self.best.key:
            state = {k: v.detach().cpu().clone() for k, v in sampler.state_dict().items()}
            self.best = Best(self.step, key, metrics, state)
        return metrics

    def run(self, hooks: Hooks = Hooks()) -> list[dict[str, float]]:
        train = self.job.train
        started = window_started = time.perf_counter()
        window_step = self.step
        side_work = 0.0  # seconds in the in-training metric and checkpoints, left out of steps/s
        progress_every = max(train.log_every, math.ceil(train.steps / 10 / train.log_every) * train.log_every)
        while self.step < train.steps and self.stop_reason is None:
            stats = train_step(self.generator, self.discriminator, self.opt_g, self.opt_d, self.objective,
                               self.batches, self.sample_z, self.job.optimiser.k_d_steps, self.ema, self.rng,
                               self.precision)
            self.step += 1
            hooks.progress(self.step)
            self._maybe_fail()
            self.window.append(stats)
            finite = self._check_finite(stats)
            last = self.step == train.steps or not finite
            if self.step % train.log_every == 0 or last:
                now = time.perf_counter()
                row = self._summarise(self.window, (self.step - window_step) / max(now - window_started, 1e-9))
                elapsed = now - started - side_work
                if finite and (self.step % train.eval_every == 0 or last):
                    row.update(self._monitor())
                    self.stop_reason = all_gather(hooks.stop_check(row, self.history) if self.rank == 0 else None, self.world)[0]
                    if self.stop_reason is not None:
                        log.warning("%s: stopped at step %d: %s", self.job.name, self.step, self.stop_reason)
                        last = True
                    side_work += time.perf_counter() - now
                self.window, window_step, window_started = [], self.step, time.perf_counter()
                self.history.append(row)
                hooks.log_metrics(self.step, mlflow_names(row))
                if self.rank == 0 and (self.step % progress_every == 0 or last):
                    self._print_progress(row, elapsed)
            if self.step % train.checkpoint_every == 0 or last:
                report_started = time.perf_counter()
                self._report(hooks, self.history[-1] if self.history else {"step": self.step})
                reporting = time.perf_counter() - report_started
                side_work += reporting
                window_started += reporting
        return self.history

    def _check_finite(self, stats: StepStats) -> bool:
        """False (and the run stopped as diverged) on a non-finite loss or gradient norm of an update that was
        applied, or a loss scaler that collapsed; updates the fp16 scaler skipped do not count."""
        values = stats.as_dict()
        bad = {key: values[key] for key in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")
               if key in values and not math.isfinite(values[key])}
        collapsed = self.precision.collapsed()
        if not bad and not collapsed:
            return True
        self.diverged_at, self.stop_reason = self.step, "diverged"
        why = ("the fp16 loss scale collapsed (even unscaled gradients overflow)" if collapsed and not bad else
               "non-finite " + ", ".join(f"{key} {value}" for key, value in bad.items()))
        log.warning("%s: %s at step %d: training stopped as diverged", self.job.name, why, self.step)
        return False

    def _maybe_fail(self) -> None:
        """Fault injection (``ray.fail_at_step``): rank 0 dies once at that step.

        ``fault_marker`` records that it happened, so the restarted worker goes
        on. Before dying the worker waits a few seconds, so that its last
        reported checkpoint reaches Ray's controller, as it would for a worker
        that fails mid-run rather than milliseconds after a report.
        """
        if self.rank != 0 or self.step != self.fail_at_step or self.fault_marker is None or self.fault_marker.exists():
            return
        self.fault_marker.parent.mkdir(parents=True, exist_ok=True)
        self.fault_marker.touch()
        log.warning("%s: fault injection, worker process exits at step %d", self.job.name, self.step)
        time.sleep(5.0)
        os._exit(1)

    def _summarise(self, window: list[StepStats], steps_per_s: float) -> dict[str, float]:
        rows = [s.as_dict() for s in window]
        keys = list(dict.fromkeys(key for row in rows for key in row))  # a side the fp16 scaler skipped is absent
        return {"step": self.step, **{k: float(np.mean([r[k] for r in rows if k in r])) for k in keys},
                "steps_per_s": steps_per_s}

    def _print_progress(self, row: dict[str, float], elapsed: float) -> None:
        remaining = (self.job.train.steps - self.step) / max(row["steps_per_s"], 1e-9)
        extras = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k not in METRIC_NAMES and k != "step")
        stats = " ".join(f"{label} {row[key]:.4g}" for key, label in
                         (("loss_d", "D"), ("loss_g", "G"), ("d_real", "D(x)"), ("d_fake", "D(G(z))")) if key in row)
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


def steady_rate(history: list[dict[str, float]]) -> float | None:
    """Steps/s over every logged window but the first (warm-up), i.e. total steps / total time.

    Each history row carries its window's rate (``steps_per_s``, the
    in-training metric and checkpoints left out); without a second window the
    first one is used.
    """
    windows = [(row["step"] - previous, row["steps_per_s"])
               for previous, row in zip([0] + [r["step"] for r in history], history)]
    windows = windows[1:] or windows
    seconds = sum(steps / rate for steps, rate in windows if rate > 0)
    return sum(steps for steps, _ in windows) / seconds if seconds > 0 else None


def best_or_final(state: dict[str, Any]) -> dict[str, dict[str, Tensor]]:
    """The generators ``evaluate`` scores: ``final`` (EMA when enabled) and ``best`` (falls back to final)."""
    final = state["ema"] if state["ema"] is not None else state["generator"]
    best = state["best"]["generator"] if state["best"] is not None else copy.deepcopy(final)
    return {"final": final, "best": best}
