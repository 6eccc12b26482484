"""Training throughput: a bare PyTorch loop vs ganlab through Ray Train (1 and 2 workers).

All three run the same GAN step (``models.step.train_step``) on the same model
and data, in one process tree on this machine:

  (a) bare    -- a plain loop: random real batches, train_step, nothing else;
  (b) ray-1   -- ``ganlab train`` (TorchTrainer, 1 worker with all threads);
  (c) ray-2   -- ``ganlab train`` with 2 DDP workers (threads split between them).

Images/s counts the real images D consumes: steps/s × k × global batch.
Every rate is the steady-state rate of the training loop: the first
``log_every`` steps (warm-up: allocator, thread pools, Ray's actors still
settling) are left out, and for (b) and (c) so are the in-training metric and
checkpoints; Ray's start-up shows separately as the stage's wall time. The
setups run in turn ``--repeats`` times (a, b, c, a, b, c, …) so that drift of
the machine hits all of them alike; the table shows the median. Because a small
shared VM drifts by ±20 % within a minute, the ratio to (a) is also given paired:
each repeat's rate divided by the bare loop's rate of the same repeat, whose
median (and range) is the figure to compare with a target.

    python benchmarks/train_throughput.py --dataset digits --variant non-saturating --steps 2000

Prints a table and writes ``benchmarks/results/train_throughput.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.networks import build_discriminator, build_generator  # noqa: E402
from models.step import build_optimiser, train_step  # noqa: E402
from pipeline.config import load  # noqa: E402
from pipeline.training.job import resolve_job  # noqa: E402
from pipeline.common.logs import configure_logging  # noqa: E402
from pipeline.data.stage import prepare  # noqa: E402
from pipeline.data.store import data_spec, load_prepared  # noqa: E402


def bare_loop(job, steps: int, warmup: int, threads: int) -> float:
    """(a): steady-state steps/s of the GAN step alone (the first ``warmup`` steps untimed)."""
    torch.set_num_threads(threads)
    torch.manual_seed(job.seed)
    settings = job.settings
    generator, discriminator = build_generator(settings.network), build_discriminator(settings.network)
    opt = settings.optimiser
    opt_g = build_optimiser(opt.name, generator.parameters(), opt.lr_g, opt.betas)
    opt_d = build_optimiser(opt.name, discriminator.parameters(), opt.lr_d, opt.betas)
    data = torch.as_tensor(load_prepared(job.dataset).train_x)
    batch = job.train.batch_size
    objective = settings.objective()

    def next_real():
        return data[torch.randint(len(data), (batch,))]

    def sample_z(n):
        return torch.randn(n, settings.network.z_dim)

    for step in range(steps):
        if step == warmup:
            started = time.perf_counter()
        train_step(generator, discriminator, opt_g, opt_d, objective, next_real, sample_z, opt.k_d_steps)
    return (steps - warmup) / (time.perf_counter() - started)


def ray_run(config, dataset: str, variant: str, workers: int, threads_per_worker: int) -> tuple[float, float]:
    """(b)/(c): the training loop's steady-state steps/s and the stage's wall time."""
    from pipeline.training.stage import train

    config = dataclasses.replace(config, ray=dataclasses.replace(config.ray, num_workers=workers,
                                                                 cpus_per_worker=threads_per_worker))
    started = time.perf_counter()
    summary = train(config, dataset, variant, 0)
    wall = time.perf_counter() - started
    return summary["steps_per_s"], wall


SETUPS = (("(a) bare PyTorch loop", 0), ("(b) ganlab, Ray Train", 1), ("(c) ganlab, Ray Train", 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--variant", default="non-saturating")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", default="1,2", help="Ray Train setups to run besides the bare loop, e.g. 1 for (b) only")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_throughput.json"))
    args = parser.parse_args()
    configure_logging("WARNING")
    threads = os.cpu_count() or 1
    log_every = max(args.steps // 10, 1)
    base = load(ROOT / "params.yaml")
    overrides = {"steps": args.steps, "log_every": log_every, "eval_every": args.steps * 10,
                 "checkpoint_every": args.steps}
    config = dataclasses.replace(base, train=dataclasses.replace(base.train, **overrides),
                                 overrides=tuple((d, tuple((s, v) for s, v in secs if s != "train"))
                                                 for d, secs in base.overrides))
    config = dataclasses.replace(config, mlflow=dataclasses.replace(config.mlflow, experiment="ganlab-benchmarks"))
    chosen = {0, *map(int, args.workers.split(","))}
    setups = [(label, workers) for label, workers in SETUPS if workers in chosen]
    rates: dict[str, list[float]] = {label: [] for label, _ in setups}
    walls: dict[str, list[float]] = {label: [] for label, _ in setups}
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as tmp:
        os.chdir(tmp)
        prepare(config, args.dataset)
        job = resolve_job(config, args.dataset, args.variant, 0, data_spec(load_prepared(args.dataset)))
        for repeat in range(args.repeats):
            for label, workers in setups:
                if workers == 0:
                    rates[label].append(bare_loop(job, args.steps, log_every, threads))
                else:
                    rate, wall = ray_run(config, args.dataset, args.variant, workers, max(threads // workers, 1))
                    rates[label].append(rate)
                    walls[label].append(wall)
                print(f"repeat {repeat + 1}/{args.repeats} {label}: {rates[label][-1]:.1f} steps/s", flush=True)
    images_per_step = job.settings.optimiser.k_d_steps * job.train.batch_size
    rows = []
    for label, workers in setups:
        rate = statistics.median(rates[label])
        rows.append({"setup": label, "workers": max(workers, 1), "steps_per_s": rate,
                     "images_per_s": rate * images_per_step * max(workers, 1), "runs_steps_per_s": rates[label],
                     "wall_s": statistics.median(walls[label]) if walls[label] else None})
    reference = rows[0]["images_per_s"]
    bare_images = [rate * images_per_step for rate in rates[SETUPS[0][0]]]
    print(f"\n{args.dataset} / {args.variant}: batch {job.train.batch_size} per worker, k={job.settings.optimiser.k_d_steps}, "
          f"{args.steps} steps ({log_every} warm-up), {threads} CPU threads, median of {args.repeats}")
    print(f"{'setup':28} {'workers':>7} {'steps/s':>9} {'images/s':>10} {'vs (a)':>7} {'paired vs (a): median [range]':>30} {'wall s':>7}")
    for row in rows:
        row["ratio_to_bare"] = row["images_per_s"] / reference
        paired = [rate * images_per_step * row["workers"] / bare for rate, bare in zip(row["runs_steps_per_s"], bare_images)]
        row["paired_ratios_to_bare"] = paired
        row["paired_ratio_to_bare"] = statistics.median(paired)
        spread = f"{row['paired_ratio_to_bare']:.3f} [{min(paired):.3f}, {max(paired):.3f}]"
        wall = f"{row['wall_s']:.1f}" if row["wall_s"] else "-"
        print(f"{row['setup']:28} {row['workers']:>7} {row['steps_per_s']:>9.1f} {row['images_per_s']:>10.0f} "
              f"{row['ratio_to_bare']:>7.3f} {spread:>30} {wall:>7}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": args.dataset, "variant": args.variant, "steps": args.steps,
                               "warmup_steps": log_every, "repeats": args.repeats, "threads": threads,
                               "machine": platform.machine(), "torch": torch.__version__, "rows": rows},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
