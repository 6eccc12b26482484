"""Training speed of each GAN family on this CPU at one or more image sizes, beside DCGAN (``non-saturating``), in
one run.

What is measured: the steady-state rate of one family's full training iteration -- ``FamilyRun.step``, i.e. k
D steps and one G step with everything the family's recipe adds (spectral normalisation's power iterations, an
auxiliary classifier, BigGAN's orthogonal penalty and EMA, conditional batches) -- in G steps per second, on one
torch thread (``--threads``), nothing else running: no Ray, no in-training metric, no checkpoints.

How: params.yaml is read from the project root and the dataset is prepared (``pipeline.data.stage.prepare``) in a
temporary folder; each variant's job is resolved exactly as the train stage resolves it (``resolve_job``: the
dataset's overrides, the variant's paper optimiser and k), and its run is created by the family
(``family.create`` with the training loop's ``RunContext``) and fed the loop's batches (``training_arrays`` →
``ShardedBatches``: ``x``, and ``y`` for class-conditional families) with the loop's noise generator and
``Progress``. Each measurement is a fresh run from the job's seed: ``--warmup`` untimed steps, then ``--steps``
timed ones. Variants run in turn, ``--repeats`` times (v1, v2, …, v1, v2, …), so that the machine's drift (±20 %
within minutes on a small shared VM) hits all of them alike; the table shows medians, and each variant's rate
divided by the reference's (``non-saturating``) rate *of the same repeat* (median and range) -- the figure to
compare. Images/s counts the real images D consumes: steps/s × k × batch. The budget column is the dataset's
``train.steps`` divided by the median rate: the training loop's time alone, without evaluation or Ray start-up.
``--image-sizes 16,32`` prepares the dataset at each size (``data.image_size``) and measures every variant at each,
ratios taken within a size; ``--at-end`` times the last steps of a run instead of the first (PGGAN at its final
resolution, StackGAN's stage II: what most of their runs cost).

    python benchmarks/family_throughput.py --steps 200 --warmup 20 --repeats 3 --threads 1
    python benchmarks/family_throughput.py --dataset stacked-digits --image-sizes 8,16,32 \
        --variants non-saturating,pggan,stylegan,stackgan --steps 10 --warmup 2 --repeats 3 --at-end

Prints a table and writes ``benchmarks/results/family_throughput.json``.
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

from models.families import get_family  # noqa: E402
from models.family import Progress, RunContext  # noqa: E402
from pipeline.common.logs import configure_logging  # noqa: E402
from pipeline.config import load  # noqa: E402
from pipeline.data.stage import prepare  # noqa: E402
from pipeline.data.store import data_spec, load_prepared, training_arrays  # noqa: E402
from pipeline.training.batches import ShardedBatches  # noqa: E402
from pipeline.training.job import resolve_job  # noqa: E402

VARIANTS = ("non-saturating", "cgan", "acgan", "sngan", "projection", "biggan")
REFERENCE = "non-saturating"


def training_batches(job, prepared) -> ShardedBatches:
    """One worker's batches of the job's task, as the training loop makes them."""
    arrays = training_arrays(prepared, get_family(job.family).task)
    tensors = {key: torch.as_tensor(values, dtype=torch.int64 if key == "y" else torch.float32)
               for key, values in arrays.items()}
    return ShardedBatches(tensors, job.train.batch_size, 0, 1, job.seed, job.data.pairing)


def create_run(job):
    """The family's run of ``job`` on the CPU with the training loop's context (one worker, no DDP)."""
    train = job.train
    context = RunContext(torch.device("cpu"), lambda module: module, job.seed, train.ema_decay, train.precision,
                         train.ema_start, train.ema_rampup)
    return get_family(job.family).create(job.settings, job.data, context)


def parameter_counts(run) -> dict[str, int]:
    """Trainable parameters of G and of every other network (D, or a stacked family's two)."""
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in run.modules().items()}
    return {"generator": counts.pop("generator"), "discriminator": sum(counts.values())}


def measure(job, prepared, steps: int, warmup: int, at_end: bool = False) -> float:
    """G steps per second of a fresh run of ``job`` over ``steps`` steps after ``warmup`` untimed ones; with
    ``at_end`` the run's progress says it is in its last ``warmup + steps`` steps (a growing G at its final
    resolution, a stacked G in its last stage), with the images seen of a run that got there."""
    run, batches = create_run(job), training_batches(job, prepared)
    rng = torch.Generator().manual_seed(job.seed * 1_000_003 + 7919)
    first = max(0, job.train.steps - warmup - steps) if at_end else 0
    images = first * job.train.batch_size * job.world_size

    def next_batch():
        nonlocal images
        batch = batches()
        images += len(batch["x"])
        return batch

    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        run.step(next_batch, rng, Progress(first + step, job.train.steps, images))
    return steps / (time.perf_counter() - started)


def summarise(jobs, runs, rates, reference: str, image_size: int) -> list[dict]:
    """One row per variant: k, parameters, median rates, ratios to the reference's rate of the same repeat."""
    rows = []
    for variant, job in jobs.items():
        k, batch = job.settings.optimiser.k_d_steps, job.train.batch_size
        rate = statistics.median(rates[variant])
        paired = [own / ref for own, ref in zip(rates[variant], rates[reference])]
        rows.append({"image_size": image_size, "variant": variant, "family": job.family, "k_d_steps": k,
                     "batch_size": batch,
                     "params_g": runs[variant]["generator"], "params_d": runs[variant]["discriminator"],
                     "steps_per_s": rate, "images_per_s": rate * k * batch, "runs_steps_per_s": rates[variant],
                     "paired_ratios": paired, "paired_ratio": statistics.median(paired),
                     "budget_steps": job.train.steps, "budget_s": job.train.steps / rate})
    return rows


def print_table(rows, reference: str) -> None:
    print(f"{'size':>4} {'variant':15} {'family':10} {'k':>2} {'params G':>9} {'params D':>9} {'steps/s':>8} "
          f"{'images/s':>9} {f'vs {reference}: median [range]':>36} {'budget s':>9}")
    for row in rows:
        paired = row["paired_ratios"]
        spread = f"{row['paired_ratio']:.3f} [{min(paired):.3f}, {max(paired):.3f}]"
        print(f"{row['image_size']:>4} {row['variant']:15} {row['family']:10} {row['k_d_steps']:>2} "
              f"{row['params_g']:>9,} {row['params_d']:>9,} {row['steps_per_s']:>8.1f} {row['images_per_s']:>9.0f} "
              f"{spread:>36} {row['budget_s']:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated; the first is the reference "
                        f"of the ratios when {REFERENCE} is not among them")
    parser.add_argument("--steps", type=int, default=200, help="timed G steps per measurement")
    parser.add_argument("--warmup", type=int, default=20, help="untimed G steps before them")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--at-end", action="store_true", help="time the last steps of a run (a growing G's final "
                        "resolution, a stacked G's last stage) instead of the first")
    parser.add_argument("--image-sizes", default="", help="comma-separated data.image_size values (default: params')")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "family_throughput.json"))
    args = parser.parse_args()
    configure_logging("WARNING")
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    reference = REFERENCE if REFERENCE in variants else variants[0]
    config = load(ROOT / "params.yaml")
    sizes = [int(size) for size in args.image_sizes.split(",")] if args.image_sizes else [config.data.image_size]
    rows = []
    load_before = os.getloadavg()
    for size in sizes:
        sized = dataclasses.replace(config, data=dataclasses.replace(config.data, image_size=size))
        rates: dict[str, list[float]] = {variant: [] for variant in variants}
        with tempfile.TemporaryDirectory(prefix="ganlab-bench-") as tmp:
            os.chdir(tmp)
            prepare(sized, args.dataset)
            prepared = load_prepared(args.dataset)
            spec = data_spec(prepared)
            jobs = {variant: resolve_job(sized, args.dataset, variant, args.seed, spec) for variant in variants}
            runs = {variant: parameter_counts(create_run(job)) for variant, job in jobs.items()}
            for repeat in range(args.repeats):
                for variant, job in jobs.items():
                    rates[variant].append(measure(job, prepared, args.steps, args.warmup, args.at_end))
                    print(f"{size}×{size} repeat {repeat + 1}/{args.repeats} {variant}: {rates[variant][-1]:.2f} "
                          "steps/s", flush=True)
            os.chdir(ROOT)
        rows.extend(summarise(jobs, runs, rates, reference, size))
    print(f"\n{args.dataset}: {args.steps} timed G steps after {args.warmup} warm-up, {args.threads} torch "
          f"thread(s), median of {args.repeats} interleaved repeats; budget: train.steps of {args.dataset}")
    print_table(rows, reference)
    command = " ".join(["python", "benchmarks/family_throughput.py", *sys.argv[1:]])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": command, "dataset": args.dataset, "image_sizes": sizes, "reference": reference, "steps": args.steps,
        "warmup_steps": args.warmup, "at_end": args.at_end, "repeats": args.repeats, "threads": args.threads,
        "seed": args.seed,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
        "python": platform.python_version(), "torch": torch.__version__,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()}, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
