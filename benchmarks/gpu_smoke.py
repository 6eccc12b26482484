"""GPU smoke check (issue 28): the GPU path of ganlab, run once, end to end, in a few minutes.

In a temporary project folder (the project's ``params.yaml``, made small; digits prepared by ``ganlab prepare``),
each check below runs the project's own code and becomes one row of a table:

  env             what ran where: torch, CUDA, cuDNN, NCCL, the GPUs (information, never a failure).
  collective      a torch.distributed all-reduce of the backend a training uses (NCCL on GPUs, gloo on the CPU)
                  gives the right sum on every rank: the communicator can be built on this machine.
  nccl-1gpu       only with one GPU: 2 NCCL ranks on that one GPU. NCCL >= 2.5 refuses it ("Duplicate GPU
                  detected", NVIDIA/nccl#418), so this row records what NCCL said (information, never a failure).
  train-fp32      the real ``ganlab train`` (Ray Train ``TorchTrainer``, ``ray.use_gpu``, NCCL, SyncBatchNorm) of a
                  DCGAN (BatchNorm in G and D) on digits in fp32: it ends, with finite losses; steps/s and images/s.
  train-fp16      the same in fp16 with one ``GradScaler`` per optimiser; steps/s and its ratio to fp32.
  resume-fp16     ``ganlab train`` again with more steps: the finished fp16 run goes on from its final checkpoint
                  (its summary's ``resumed_from``) and reaches the new step count.
  ddp-shared      2 DDP workers on ONE device (gloo on CUDA tensors, SyncBatchNorm, fp16), the project's
                  ``TrainingLoop`` in two processes, then two fresh processes resume from its mid-run checkpoint:
                  DDP kept both workers' weights bit-identical, and the resumed run reaches the end. With one GPU
                  this is the only place where DDP and SyncBatchNorm run across two ranks.
  inception-dev   the project's scoring path on the device (``ray.scoring: tasks``: a Ray task asking one GPU, the
                  network in fp32 with TF32 off, :mod:`pipeline.features.passes`) over generated samples of the
                  trained G: images/s.
  inception-tf32  only on CUDA: ``InceptionFeatures`` on the GPU with cuDNN's TF32 convolutions on (PyTorch's
                  default): images/s and the FID deviation from the CPU (information).
  inception-cpu   the same samples through the extractor on the CPU: images/s.
  fid-agreement   the Fréchet distance of the device's and of the CPU's features of the same samples to the same
                  reference features (``analysis.frechet``) agree within ``FID_RTOL``.

With two or more GPUs, ``ganlab train`` runs 2 workers, one GPU each, NCCL between them. With one GPU it runs 1
worker (``ray.use_gpu`` asks one whole GPU per worker, and NCCL allows one rank per GPU): NCCL, SyncBatchNorm and
DDP are then set up but have no peer, which is why ``ddp-shared`` runs two workers on the one GPU with gloo.
``--device cpu`` (the only choice without a GPU) runs every check on the CPU: gloo, 2 workers, fp16 autocast on
the CPU, no SyncBatchNorm (PyTorch's SyncBatchNorm refuses CPU tensors), and the "device" Inception pass is the CPU
again at another batch size (a check of the plumbing, not of GPU numerics); FID then uses 24 samples and the first 8
feature dimensions (the CPU is too slow for the > 2,048 samples that a 2,048-d FID needs).

    .venv/bin/python benchmarks/gpu_smoke.py                  # on a GPU machine (estimated 3-5 minutes; not yet run)
    .venv/bin/python benchmarks/gpu_smoke.py --device cpu     # anywhere (~1.7 CPU-minutes; 3-6.5 min on a busy 2-core VM)

Prints the table, writes ``benchmarks/results/gpu_smoke.json`` and exits 1 with one line per failed check.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.features import stream_features  # noqa: E402
from analysis.frechet import FeatureStats, frechet_distance  # noqa: E402
from analysis.inception import InceptionFeatures, to_uint8  # noqa: E402

DATASET, VARIANT = "digits", "non-saturating"  # a DCGAN: BatchNorm in G and D, so SyncBatchNorm has layers to convert
SEEDS = {"fp32": 0, "fp16": 1, "ddp": 2}  # one run folder each: no run sees another's checkpoints
#: fp32 on CPU (oneDNN) and GPU (cuDNN, TF32 off) differ only in summation order: ~1e-6 relative per feature after
#: Inception's ~100 layers, and FID, a smooth function of the features' mean and covariance, moves by the same
#: order. 1e-3 leaves a wide margin for that and still catches a real difference: TF32 (10-bit mantissa, ~1e-3 per
#: convolution), half precision, or other preprocessing on one side.
FID_RTOL = 1e-3


@dataclass
class Row:
    """One check: what ran, whether it passed (None: information only), why not, and its numbers."""

    check: str
    what: str
    ok: bool | None = None
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The sizes and settings of one smoke run (``plan_for``)."""

    device: str  # "cuda" or "cpu"
    gpus: int
    workers: int  # ganlab train's ray.num_workers
    steps: int  # of the fp32 / fp16 runs; the resume goes on to steps + steps // 2
    batch: int
    ddp_steps: int
    n_fid: int  # generated samples per Inception pass
    fid_dims: int
    device_batch: int
    cpu_batch: int
    deadline: float  # time.monotonic() by which the checks before the Inception pass must have ended

    def left(self, wanted_s: float) -> float:
        """A subprocess timeout: ``wanted_s`` or what is left before the deadline."""
        return max(1.0, min(wanted_s, self.deadline - time.monotonic()))


def plan_for(device: str, budget_s: float) -> Plan:
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    deadline = time.monotonic() + budget_s
    if device == "cuda":
        return Plan(device, gpus, workers=min(2, gpus), steps=400, batch=64, ddp_steps=100, n_fid=2100, fid_dims=2048,
                    device_batch=100, cpu_batch=50, deadline=deadline)
    return Plan(device, 0, workers=2, steps=40, batch=32, ddp_steps=20, n_fid=24, fid_dims=8, device_batch=12,
                cpu_batch=6, deadline=deadline)


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message (NCCL's 'Last error' line too)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    last = next((lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith("Last error")), None)
    text = lines[0] if lines else ""
    return f"{type(err).__name__}: {text[:300]}" + (f" | {last[:200]}" if last and last not in text else "")


# --- the temporary project and the real CLI ------------------------------------------------------------------


def write_params(path: Path, plan: Plan, *, steps: int, precision: str, workers: int, use_gpu: bool,
                 every: int) -> Path:
    """The project's ``params.yaml`` made small: digits only, a tiny domain classifier, ``steps`` steps; a history row
    every ``every // 4`` steps, a checkpoint every ``every // 2``, the in-training metric at ``every`` (and the end)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["suites"], params["overrides"] = {}, {DATASET: {"model": {"width": 32}}}
    params["benchmark"].update(datasets=[DATASET], variants=[VARIANT], seeds=[0], suites=[])
    params["data"]["datasets"] = [DATASET]
    params["classifier"].update(epochs=2, width=8, feature_dim=16)
    params["train"].update(steps=steps, batch_size=plan.batch, k_d_steps=1, log_every=every // 4,
                           eval_every=every, eval_samples=200, checkpoint_every=every // 2,
                           precision=precision)
    params["eval"]["inception"] = False
    params["ray"].update(num_workers=workers, use_gpu=use_gpu, cpus_per_worker=1, sync_batchnorm=use_gpu)
    params["mlflow"]["experiment"] = "gpu-smoke"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


#: The project's packages, copied into the temporary project: its commands run this checkout's code (the venv's
#: editable install may point at another copy) and keep running one version of it while the checkout is edited.
PACKAGES = ("pipeline", "models", "analysis")


def snapshot_code(project: Path) -> Path:
    """Copy :data:`PACKAGES` to ``project/code``; returns that folder."""
    code = project / "code"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    return code


def cli_env(project: Path) -> dict[str, str]:
    """The snapshot of the code first on the path, no inherited cluster, tracking server or storage."""
    path = [str(project / "code"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path).rstrip(os.pathsep),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "GANLAB_LOG_LEVEL": "INFO"}
    for name in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "GANLAB_STORAGE"):
        env.pop(name, None)
    return env


def ganlab(project: Path, args: list[str], timeout_s: float, log_name: str) -> str:
    """``ganlab <args>`` in ``project`` (its output kept in ``project/<log_name>``); its output, or a RuntimeError
    with its last lines. A command past ``timeout_s`` gets SIGTERM (ganlab stops its Ray as on Ctrl-C), then SIGKILL."""
    log_path = project / log_name
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=project, env=cli_env(project),
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            code = None
    output = log_path.read_text(errors="replace")
    if code != 0:
        tail = "\n".join(output.splitlines()[-25:])
        print(f"--- last lines of `ganlab {' '.join(args)}` ---\n{tail}\n---", flush=True)
        last = next((line for line in reversed(output.splitlines()) if line.strip()), "no output")
        raise RuntimeError(f"`ganlab {args[0]}` " + (f"timed out after {timeout_s:.0f}s" if code is None else
                                                       f"exited {code}") + f": {last.strip()[:300]}")
    return output


def train_run(project: Path, plan: Plan, *, precision: str, steps: int, log_name: str) -> dict[str, Any]:
    """One ``ganlab train`` of the smoke run (seed by precision); returns its ``train_summary.json``."""
    use_gpu = plan.device == "cuda"
    params = write_params(project / f"params-{log_name}.yaml", plan, steps=steps, precision=precision,
                          workers=plan.workers, use_gpu=use_gpu, every=plan.steps)
    seed = SEEDS[precision]
    ganlab(project, ["train", "--params", params.name, "--dataset", DATASET, "--variant", VARIANT, "--seed", str(seed)],
           plan.left(240), f"{log_name}.log")
    return json.loads((project / "runs" / DATASET / VARIANT / f"seed{seed}" / "train_summary.json").read_text())


def rates(summary: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """steps/s (steady state, the loop's own measure) and the real images D takes per second (k = 1)."""
    steps_per_s = summary["steps_per_s"] or 0.0
    return {"steps_per_s": round(steps_per_s, 2), "images_per_s": round(steps_per_s * summary["global_batch_size"], 1),
            "workers": summary["num_workers"], "steps": summary["steps"], "wall_s": summary["wall_time_s"]}


def replicas_problem(digests: list[str], synced: bool) -> list[str]:
    """The workers' final networks must be bit-identical where BatchNorm is synchronised. Without SyncBatchNorm each
    worker's running statistics follow its own batches (DDP broadcasts rank 0's buffers before a forward pass, and
    the last one updates them again), so only the parameters agree and the state digests may differ."""
    return ["the workers' final weights differ"] if synced and len(set(digests)) != 1 else []


def trained_row(check: str, what: str, summary: dict[str, Any], plan: Plan, steps: int) -> Row:
    """A training row: it passed when it ran every step without diverging, every worker holding the same weights."""
    row = Row(check, what, metrics=rates(summary, plan))
    row.metrics["replicas_identical"] = len(set(summary["replica_digests"])) == 1
    problems = replicas_problem(summary["replica_digests"], synced=plan.device == "cuda")
    if summary["steps"] != steps:
        problems.append(f"ended at step {summary['steps']} of {steps}")
    if summary["diverged_at"] is not None:
        problems.append(f"diverged at step {summary['diverged_at']}")
    if not row.metrics["steps_per_s"] > 0:
        problems.append("no steps/s measured")
    row.ok, row.reason = not problems, "; ".join(problems)
    return row


def training_rows(project: Path, plan: Plan) -> tuple[list[Row], Path | None]:
    """train-fp32, train-fp16, resume-fp16; and the generator file of the last run that trained."""
    where = (f"{plan.workers} worker(s) × 1 GPU, NCCL, SyncBatchNorm" + (" (no peer: 1 worker)" if plan.workers == 1
             else "") if plan.device == "cuda" else f"{plan.workers} workers on the CPU, gloo, no SyncBatchNorm")
    rows, generators = [], None
    resumed_steps = plan.steps + plan.steps // 2
    for check, precision, steps in (("train-fp32", "fp32", plan.steps), ("train-fp16", "fp16", plan.steps),
                                    ("resume-fp16", "fp16", resumed_steps)):
        what = f"ganlab train, {where}, {precision}, {steps} steps" + (
            f" (resumes the {plan.steps}-step run)" if check.startswith("resume") else "")
        try:
            summary = train_run(project, plan, precision=precision, steps=steps, log_name=check)
        except Exception as err:  # one failed check must not hide the others
            rows.append(Row(check, what, ok=False, reason=one_line(err)))
            continue
        row = trained_row(check, what, summary, plan, steps)
        if check == "resume-fp16" and summary["resumed_from"] != [plan.steps]:
            row.ok, row.reason = False, f"resumed_from is {summary['resumed_from']}, not [{plan.steps}]"
        row.metrics["resumed_from"] = summary["resumed_from"]
        rows.append(row)
        generators = project / "runs" / DATASET / VARIANT / f"seed{SEEDS[precision]}" / "model" / "generators.pt"
    fp32, fp16 = rows[0].metrics.get("steps_per_s"), rows[1].metrics.get("steps_per_s")
    if fp32 and fp16:
        rows[1].metrics["vs_fp32"] = round(fp16 / fp32, 3)
    return rows, generators


# --- processes of one process group ------------------------------------------------------------------------------


def join_group(rank: int, world: int, backend: str, store: str) -> None:
    """``init_process_group`` through a file store, collectives on the loopback interface."""
    from datetime import timedelta

    from pipeline.cluster.loopback_torch import loopback_interface

    interface = loopback_interface()
    if interface is not None:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", interface)
        os.environ.setdefault("NCCL_SOCKET_IFNAME", interface)
    torch.distributed.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world,
                                         timeout=timedelta(seconds=60))


def run_ranks(target: Callable[..., None], world: int, args: tuple, timeout_s: float) -> list[Any]:
    """``target(rank, world, results, *args)`` in ``world`` fresh processes; each rank's result (what it put on
    ``results``), or a line saying it gave none."""
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    results: Any = context.Queue()
    processes = [context.Process(target=target, args=(rank, world, results, *args)) for rank in range(world)]
    for process in processes:
        process.start()
    found: dict[int, Any] = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < world and time.monotonic() < deadline:
        try:
            rank, value = results.get(timeout=1.0)
            found[rank] = value
        except queue.Empty:
            if not any(process.is_alive() for process in processes):
                break
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()
    return [found.get(rank, f"rank {rank} gave no result within {timeout_s:.0f}s (exit code "
                            f"{processes[rank].exitcode})") for rank in range(world)]


def _all_reduce_rank(rank: int, world: int, results: Any, backend: str, devices: list[str], store: str) -> None:
    """One rank of :func:`collective_row`: all-reduce ``rank + 1`` and compare with the sum over ranks."""
    try:
        device = torch.device(devices[rank])
        if device.type == "cuda":
            torch.cuda.set_device(device)
        join_group(rank, world, backend, store)
        tensor = torch.full((1 << 20,), float(rank + 1), device=device)
        torch.distributed.all_reduce(tensor)
        got, expected = tensor[0].item(), world * (world + 1) / 2
        results.put((rank, "ok" if got == expected else f"all_reduce gave {got}, not {expected}"))
    except Exception as err:
        results.put((rank, one_line(err)))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def collective(backend: str, devices: list[str], plan: Plan) -> list[Any]:
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-store-") as tmp:
        return run_ranks(_all_reduce_rank, len(devices), (backend, devices, str(Path(tmp) / "store")), plan.left(90))


def collective_rows(plan: Plan) -> list[Row]:
    """collective (the backend's all-reduce across the ranks a training has) and, with one GPU, nccl-1gpu."""
    if plan.device == "cpu":
        backend, devices = "gloo", ["cpu", "cpu"]
    else:
        backend, devices = "nccl", [f"cuda:{rank}" for rank in range(plan.workers)]
    answers = collective(backend, devices, plan)
    failed = [answer for answer in answers if answer != "ok"]
    rows = [Row("collective", f"{backend} all_reduce, {len(devices)} rank(s) on {', '.join(devices)}", ok=not failed,
                reason=failed[0] if failed else "")]
    if plan.device == "cuda" and plan.gpus == 1:
        answers = collective("nccl", ["cuda:0", "cuda:0"], plan)
        said = next((answer for answer in answers if answer != "ok"), "ran")
        rows.append(Row("nccl-1gpu", "nccl all_reduce, 2 ranks on cuda:0 (NCCL >= 2.5 refuses two ranks on one GPU)",
                        reason=said, metrics={"refused": said != "ran"}))
    return rows


def _ddp_rank(rank: int, world: int, results: Any, project: str, params: str, device_name: str, store: str,
              resume: str | None, out: str) -> None:
    """One worker of :func:`ddp_shared_row`: the project's ``TrainingLoop`` with DDP (and SyncBatchNorm on CUDA), as
    ``ray.train.torch.prepare_model`` wraps the nets; rank 0 copies every checkpoint it reports to ``out``."""
    from torch import nn

    from pipeline.config import load
    from pipeline.data.shipping import DatasetFolders
    from pipeline.data.store import data_spec, load_prepared
    from pipeline.training.job import resolve_job
    from pipeline.training.loop import Hooks, TrainingLoop

    try:
        os.chdir(project)
        torch.set_num_threads(1)
        device = torch.device(device_name)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        join_group(rank, world, "gloo", store)
        job = resolve_job(load(params), DATASET, VARIANT, SEEDS["ddp"], data_spec(load_prepared(DATASET)))
        synced: list[nn.Module] = []

        def wrap(module: nn.Module) -> nn.Module:
            if device.type == "cuda":
                module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
                synced.extend(m for m in module.modules() if isinstance(m, nn.SyncBatchNorm))
            return nn.parallel.DistributedDataParallel(module.to(device),
                                                       device_ids=[device.index] if device.type == "cuda" else None)

        training = TrainingLoop(job, DatasetFolders.of_project(DATASET), rank=rank, world=world, device=device,
                                wrap=wrap)
        if resume is not None:
            training.restore(Path(resume))

        def report(metrics: dict[str, float], directory: Path | None) -> None:
            if directory is not None:
                shutil.copytree(directory, Path(out) / f"checkpoint_{int(metrics['step']):06d}")

        training.run(Hooks(report=report))
        results.put((rank, {"step": training.step, "sync_bn_layers": len(synced)}))
    except Exception as err:
        results.put((rank, one_line(err)))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def ddp_phase(project: Path, plan: Plan, params: Path, resume: Path | None, out: Path) -> dict[str, Any]:
    """Two workers on the one device train to the end (from ``resume`` if given); rank 0's answer, or a RuntimeError
    with the first rank's failure."""
    device = "cuda:0" if plan.device == "cuda" else "cpu"
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-store-") as tmp:
        answers = run_ranks(_ddp_rank, 2, (str(project), str(params), device, str(Path(tmp) / "store"),
                                           str(resume) if resume else None, str(out)), plan.left(180))
    failed = [answer for answer in answers if not isinstance(answer, dict)]
    if failed:
        raise RuntimeError(failed[0])
    return answers[0]


def ddp_shared_row(project: Path, plan: Plan) -> Row:
    """ddp-shared: 2 DDP workers on one device, fp16, then a resume from the mid-run checkpoint (see module doc)."""
    from pipeline.training.checkpoint import load_checkpoint
    from pipeline.training.clock import steady_rate

    on_cuda = plan.device == "cuda"
    what = (f"TrainingLoop × 2 processes on {'cuda:0' if on_cuda else 'the CPU'}, gloo, DDP, "
            f"{'SyncBatchNorm' if on_cuda else 'no SyncBatchNorm'}, fp16, {plan.ddp_steps} steps + resume from "
            f"step {plan.ddp_steps // 2}")
    row = Row("ddp-shared", what)
    params = write_params(project / "params-ddp.yaml", plan, steps=plan.ddp_steps, precision="fp16", workers=2,
                          use_gpu=False, every=plan.ddp_steps)  # the bare loop wraps the nets itself: no Ray, no GPU ask
    whole, resumed = project / "ddp-whole", project / "ddp-resumed"
    try:
        first = ddp_phase(project, plan, params, None, whole)
        second = ddp_phase(project, plan, params, whole / f"checkpoint_{plan.ddp_steps // 2:06d}", resumed)
        end = load_checkpoint(whole / f"checkpoint_{plan.ddp_steps:06d}")
        end_resumed = load_checkpoint(resumed / f"checkpoint_{plan.ddp_steps:06d}")
    except Exception as err:
        row.ok, row.reason = False, one_line(err)
        return row
    steps_per_s = steady_rate(end["history"]) or 0.0
    row.metrics = {"steps_per_s": round(steps_per_s, 2), "images_per_s": round(steps_per_s * 2 * plan.batch, 1),
                   "workers": 2, "sync_bn_layers": first["sync_bn_layers"], "resumed_from": end_resumed["resumed_from"],
                   "resume_bit_exact": end["replicas"][0] == end_resumed["replicas"][0]}
    row.metrics["replicas_identical"] = len(set(end["replicas"])) == 1 and len(set(end_resumed["replicas"])) == 1
    problems = replicas_problem(end["replicas"], synced=on_cuda) or replicas_problem(end_resumed["replicas"], on_cuda)
    if end_resumed["resumed_from"] != [plan.ddp_steps // 2] or second["step"] != plan.ddp_steps:
        problems.append(f"resumed from {end_resumed['resumed_from']} to step {second['step']}")
    if on_cuda and not first["sync_bn_layers"]:
        problems.append("no BatchNorm layer became a SyncBatchNorm")
    row.ok, row.reason = not problems, "; ".join(problems)
    return row


# --- Inception and FID ---------------------------------------------------------------------------------------------


def timed(features_of: Callable[[torch.Tensor], np.ndarray], images: torch.Tensor,
          fid_dims: int) -> tuple[np.ndarray, float]:
    """Features of ``images`` (first ``fid_dims`` dimensions) and images/s, after an untimed warm-up on two images
    (Ray's start, the network's load on the device, cuDNN's first kernels)."""
    features_of(images[:2])
    started = time.perf_counter()
    features = features_of(images)
    return features[:, :fid_dims], len(images) / (time.perf_counter() - started)


def fid(features: np.ndarray, reference: FeatureStats) -> float:
    return frechet_distance(FeatureStats.of(features), reference)


def inception_rows(generators: Path | None, plan: Plan) -> list[Row]:
    """inception-dev (the project's scoring path: a Ray task on the device), inception-tf32 (CUDA), inception-cpu and
    fid-agreement, on samples of the trained G."""
    from pipeline.config import RayConfig
    from pipeline.features.passes import feature_passes
    from pipeline.scoring.sampling import EVAL_SEED, load_sampler

    if generators is None or not generators.is_file():
        return [Row("inception-dev", "Inception feature pass", ok=False, reason="no trained generator to sample")]
    sampler = load_sampler(torch.load(generators, map_location="cpu", weights_only=True), "final")
    samples, others = (to_uint8(torch.as_tensor(sampler.draw(plan.n_fid, seed))) for seed in (EVAL_SEED, EVAL_SEED + 1))
    extractor = InceptionFeatures()
    scoring = RayConfig(scoring="tasks", use_gpu=plan.device == "cuda", scoring_images=plan.n_fid)
    with feature_passes(scoring) as passes:
        def on_device(images: torch.Tensor) -> np.ndarray:
            return passes.features(extractor, images, plan.device_batch, "smoke Inception")

        reference = FeatureStats.of(timed(on_device, others, plan.fid_dims)[0])
        device_features, device_rate = timed(on_device, samples, plan.fid_dims)
    rows = [Row("inception-dev", f"ray.scoring: tasks, one Ray task on {plan.device} (fp32, TF32 off), batch "
                f"{plan.device_batch}", ok=device_rate > 0, metrics={"images_per_s": round(device_rate, 1),
                                                                      "images": plan.n_fid})]
    torch.set_num_threads(os.cpu_count() or 1)
    cpu_features, cpu_rate = timed(lambda images: stream_features(extractor, images, len(images), plan.cpu_batch)
                                   .features, samples, plan.fid_dims)
    fid_cpu, fid_device = fid(cpu_features, reference), fid(device_features, reference)
    if plan.device == "cuda":
        on_gpu = InceptionFeatures(device="cuda")
        torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for cuDNN convolutions
        tf32_features, tf32_rate = timed(lambda images: stream_features(on_gpu, images, len(images), plan.device_batch)
                                         .features, samples, plan.fid_dims)
        rows.append(Row("inception-tf32", "InceptionFeatures(device='cuda') with TF32 on (PyTorch's cuDNN default)",
                        metrics={"images_per_s": round(tf32_rate, 1),
                                 **deviation(fid(tf32_features, reference), fid_cpu, tf32_features, cpu_features)}))
    rows.append(Row("inception-cpu", f"InceptionFeatures() on the CPU, {os.cpu_count()} threads, batch {plan.cpu_batch}",
                    ok=cpu_rate > 0, metrics={"images_per_s": round(cpu_rate, 1), "images": plan.n_fid}))
    agreement = deviation(fid_device, fid_cpu, device_features, cpu_features)
    rows.append(Row("fid-agreement", f"FD({plan.device} features) vs FD(CPU features), same {plan.n_fid} samples, "
                    f"same reference, {plan.fid_dims}-d; tolerance relative {FID_RTOL:g}",
                    ok=agreement["fid_rel_diff"] <= FID_RTOL, metrics={"fid_device": round(fid_device, 6),
                                                                      "fid_cpu": round(fid_cpu, 6), **agreement}))
    if not rows[-1].ok:
        rows[-1].reason = f"FID differs by {agreement['fid_rel_diff']:.2e} relative (> {FID_RTOL:g})"
    return rows


def deviation(fid_a: float, fid_b: float, features_a: np.ndarray, features_b: np.ndarray) -> dict[str, float]:
    """How far two FIDs and their feature sets are apart (absolute and relative)."""
    return {"fid_abs_diff": float(f"{abs(fid_a - fid_b):.3g}"),
            "fid_rel_diff": float(f"{abs(fid_a - fid_b) / max(abs(fid_b), 1e-12):.3g}"),
            "feature_rel_diff": float(f"{np.linalg.norm(features_a - features_b) / np.linalg.norm(features_b):.3g}")}


# --- the whole check -------------------------------------------------------------------------------------------------


def environment(plan: Plan) -> Row:
    """env: versions and devices (information)."""
    metrics: dict[str, Any] = {"torch": torch.__version__, "cpus": os.cpu_count(), "device": plan.device,
                               "gpus": plan.gpus, "python": platform.python_version()}
    if plan.device == "cuda":
        metrics.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                       nccl=".".join(map(str, torch.cuda.nccl.version())),
                       gpu_names=[torch.cuda.get_device_name(i) for i in range(plan.gpus)])
    names = ", ".join(metrics.get("gpu_names", [])) or "no GPU"
    return Row("env", f"torch {torch.__version__}, {names}, {os.cpu_count()} CPUs", metrics=metrics)


def guarded(check: str, what: str, make: Callable[[], list[Row]]) -> list[Row]:
    """``make()``, or one failed row naming the error (a check that breaks must not stop the others); each row is
    printed as soon as it is known, so that a run killed from outside still shows how far it got."""
    try:
        rows = make()
    except Exception as err:
        rows = [Row(check, what, ok=False, reason=one_line(err))]
    for row in rows:
        print(f"[{time.strftime('%H:%M:%S')}] {row.check}: {({True: 'ok', False: 'FAIL', None: 'info'})[row.ok]} "
              f"{row.reason} {json.dumps(row.metrics)}", flush=True)
    return rows


def prepare(project: Path, plan: Plan) -> list[Row]:
    """``ganlab prepare`` of digits in the temporary project; no row (its failure makes one, in :func:`guarded`)."""
    ganlab(project, ["prepare", "--dataset", DATASET], plan.left(240), "prepare.log")
    return []


def run_checks(plan: Plan, project: Path) -> list[Row]:
    """Every check in turn, in the temporary ``project``; their rows."""
    rows = guarded("env", "versions and devices", lambda: [environment(plan)])
    snapshot_code(project)
    rows += guarded("collective", "all_reduce across ranks", lambda: collective_rows(plan))
    write_params(project / "params.yaml", plan, steps=plan.steps, precision="fp32", workers=plan.workers,
                 use_gpu=plan.device == "cuda", every=plan.steps)
    failed_prepare = guarded("prepare", "ganlab prepare --dataset digits", lambda: prepare(project, plan))
    if failed_prepare:
        return rows + failed_prepare
    generators: list[Path | None] = [None]

    def train() -> list[Row]:
        trained, generators[0] = training_rows(project, plan)
        return trained

    rows += guarded("train-fp32", "ganlab train", train)
    rows += guarded("ddp-shared", "2 DDP workers on one device", lambda: [ddp_shared_row(project, plan)])
    if time.monotonic() > plan.deadline:
        return rows + [Row("inception-dev", "Inception feature pass", ok=False,
                           reason="not run: the checks before it used the whole --budget-s")]
    return rows + guarded("inception-dev", "Inception feature pass", lambda: inception_rows(generators[0], plan))


def print_table(rows: list[Row]) -> None:
    shown = ("steps_per_s", "images_per_s", "vs_fp32", "fid_device", "fid_cpu", "fid_abs_diff", "fid_rel_diff",
             "feature_rel_diff")
    print(f"\n{'check':15} {'result':6} {'steps/s':>8} {'img/s':>9} {'vs fp32':>7}  what / numbers")
    for row in rows:
        result = {True: "ok", False: "FAIL", None: "info"}[row.ok]
        numbers = ", ".join(f"{key} {row.metrics[key]}" for key in shown[3:] if key in row.metrics)
        cells = [f"{row.metrics[key]:>{width}}" if key in row.metrics else " " * width
                 for key, width in (("steps_per_s", 8), ("images_per_s", 9), ("vs_fp32", 7))]
        print(f"{row.check:15} {result:6} {' '.join(cells)}  {row.what}" + (f" | {numbers}" if numbers else "") +
              (f" | {row.reason}" if row.reason else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="seconds for the checks before the Inception pass, which then takes 1-2 minutes (default "
                             "420: the whole script stays under 10 minutes)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_smoke.json"))
    parser.add_argument("--keep", help="copy the temporary project (logs, params, runs) to this folder")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("FAIL: --device cuda but torch sees no GPU (torch.cuda.is_available() is False)")
        return 1
    started = time.monotonic()
    plan = plan_for(args.device, args.budget_s)
    print(f"gpu_smoke: {plan}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-") as tmp:
        project = Path(tmp)
        rows = run_checks(plan, project)
        if args.keep:
            shutil.copytree(project, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.pt", "ray"))
    wall = time.monotonic() - started
    print_table(rows)
    failed = [row for row in rows if row.ok is False]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"plan": {**asdict(plan), "deadline": None}, "wall_s": round(wall, 1),
                               "fid_rtol": FID_RTOL, "passed": not failed, "rows": [asdict(row) for row in rows]},
                              indent=2) + "\n")
    print(f"\nwall time {wall:.0f}s; wrote {out}")
    for row in failed:
        print(f"FAIL {row.check}: {row.reason}")
    print("PASSED" if not failed else f"{len(failed)} check(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
