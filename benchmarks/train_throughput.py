"""Training throughput: a bare PyTorch loop vs ganlab through Ray Train (1 and 2 workers).

All three run the same GAN step (``models.step.train_step``) on the same model
and data, in one process tree on this machine:

  (a) bare    -- a plain loop: random real batches, train_step, nothing else;
  (b) ray-1   -- ``ganlab train`` (TorchTrainer, 1 worker with all threads);
  (c) ray-2   -- ``ganlab train`` with 2 DDP workers (threads split between them).

Images/s counts the real images D consumes: steps/s × k × global batch.
Every rate is measured from the loop's first step to its last (for (b) and
(c), the training loop's own rate, excluding Ray's start-up, which is shown
separately as the end-to-end wall time of the stage).

    python benchmarks/train_throughput.py --dataset digits --variant non-saturating --steps 400

Prints a table and writes ``benchmarks/results/train_throughput.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
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
from pipeline.job import resolve_job  # noqa: E402
from pipeline.layout import prepared_dir, reference_dir  # noqa: E402
from pipeline.logs import configure_logging  # noqa: E402
from pipeline.prepare import prepare  # noqa: E402
from pipeline.prepared import load_prepared  # noqa: E402


def bare_loop(job, steps: int, threads: int) -> float:
    """(a): steps/s of the GAN step alone."""
    torch.set_num_threads(threads)
    torch.manual_seed(job.seed)
    generator, discriminator = build_generator(job.network), build_discriminator(job.network)
    opt = job.optimiser
    opt_g = build_optimiser(opt.name, generator.parameters(), opt.lr_g, opt.betas)
    opt_d = build_optimiser(opt.name, discriminator.parameters(), opt.lr_d, opt.betas)
    data = torch.as_tensor(load_prepared(job.dataset, Path(job.data_dir)).train_x)
    batch = job.train.batch_size
    objective = job.objective()

    def next_real():
        return data[torch.randint(len(data), (batch,))]

    def sample_z(n):
        return torch.randn(n, job.network.z_dim)

    started = time.perf_counter()
    for _ in range(steps):
        train_step(generator, discriminator, opt_g, opt_d, objective, next_real, sample_z, opt.k_d_steps)
    return steps / (time.perf_counter() - started)


def ray_run(config, dataset: str, variant: str, workers: int, threads_per_worker: int) -> tuple[float, float]:
    """(b)/(c): the training loop's steps/s and the stage's wall time."""
    from pipeline.train import train

    config = dataclasses.replace(config, ray=dataclasses.replace(config.ray, num_workers=workers,
                                                                 cpus_per_worker=threads_per_worker))
    started = time.perf_counter()
    summary = train(config, dataset, variant, 0)
    wall = time.perf_counter() - started
    return summary["steps_per_s"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--variant", default="non-saturating")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train_throughput.json"))
    args = parser.parse_args()
    configure_logging("WARNING")
    threads = os.cpu_count() or 1
    base = load(ROOT / "params.yaml")
    overrides = {"steps": args.steps, "log_every": max(args.steps // 4, 1), "eval_every": args.steps * 10,
                 "checkpoint_every": args.steps}
    config = dataclasses.replace(base, train=dataclasses.replace(base.train, **overrides),
                                 overrides=tuple((d, tuple((s, v) for s, v in secs if s != "train"))
                                                 for d, secs in base.overrides))
    config = dataclasses.replace(config, mlflow=dataclasses.replace(config.mlflow, experiment="ganlab-benchmarks"))
    with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as tmp:
        os.chdir(tmp)
        prepare(config, args.dataset)
        shape = tuple(load_prepared(args.dataset).manifest["shape"])
        job = resolve_job(config, args.dataset, args.variant, 0, shape, prepared_dir(args.dataset),
                          reference_dir(args.dataset))
        images_per_step = job.optimiser.k_d_steps * job.train.batch_size
        rows = []
        rate = bare_loop(job, args.steps, threads)
        rows.append({"setup": "(a) bare PyTorch loop", "workers": 1, "steps_per_s": rate,
                     "images_per_s": rate * images_per_step, "wall_s": None})
        for label, workers in (("(b) ganlab, Ray Train", 1), ("(c) ganlab, Ray Train", 2)):
            rate, wall = ray_run(config, args.dataset, args.variant, workers, max(threads // workers, 1))
            rows.append({"setup": label, "workers": workers, "steps_per_s": rate,
                         "images_per_s": rate * images_per_step * workers, "wall_s": wall})
    reference = rows[0]["images_per_s"]
    print(f"\n{args.dataset} / {args.variant}: batch {job.train.batch_size} per worker, k={job.optimiser.k_d_steps}, "
          f"{args.steps} steps, {threads} CPU threads")
    print(f"{'setup':28} {'workers':>7} {'steps/s':>9} {'images/s':>10} {'vs (a)':>7} {'wall s':>7}")
    for row in rows:
        row["ratio_to_bare"] = row["images_per_s"] / reference
        wall = f"{row['wall_s']:.1f}" if row["wall_s"] else "-"
        print(f"{row['setup']:28} {row['workers']:>7} {row['steps_per_s']:>9.1f} {row['images_per_s']:>10.0f} "
              f"{row['ratio_to_bare']:>7.3f} {wall:>7}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": args.dataset, "variant": args.variant, "steps": args.steps,
                               "threads": threads, "machine": platform.machine(), "torch": torch.__version__,
                               "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
