"""Training speed of each GAN family on this CPU at one or more image sizes, beside DCGAN (``non-saturating``), in
one run.

What is measured: the steady-state rate of one family's full training iteration -- ``FamilyRun.step``, i.e. k
D steps and one G step with everything the family's recipe adds (spectral normalisation's power iterations, an
auxiliary classifier, BigGAN's orthogonal penalty and EMA, conditional batches; pix2pix's L1 beside its PatchGAN,
CycleGAN's two translators, two discriminators and image pools, SRGAN's content loss) -- in G steps per second, on
one torch thread (``--threads``), nothing else running: no Ray, no in-training metric, no checkpoints.

Data: each variant is timed on the dataset of its family's task (``benchmarks/task_data.py``: ``digits`` for the
unconditional and class-conditional families, ``edges2digits`` for pix2pix, ``digits2bold`` for cyclegan and
identity, ``digits-sr2`` for srgan and bicubic), or every variant on ``--dataset`` when it is given. The reference,
DCGAN, is timed on its own task's dataset (``digits``) beside them; the header of the table names it.

How: params.yaml (``--params``) is read and each dataset is prepared (``pipeline.data.stage.prepare``) in a temporary
folder; each variant's job is resolved exactly as the train stage resolves it (``resolve_job``: the dataset's
overrides, the variant's paper optimiser and k), and its run is created by the family (``family.create`` with the
training loop's ``RunContext``, the domain classifier's features for a family that trains with them) and fed the
loop's batches (``training_arrays`` → ``ShardedBatches``: ``x``, ``y`` for class-conditional families, ``source`` for
translation and super-resolution) with the loop's noise generator and ``Progress``. Each measurement is a fresh run
from the job's seed: ``--warmup`` untimed steps, then ``--steps`` timed ones. Variants run in turn, ``--repeats``
times (v1, v2, …, v1, v2, …), so that the machine's drift (±20 % within minutes on a small shared VM) hits all of
them alike; the table shows medians, and each variant's rate divided by the reference's (``non-saturating``) rate
*of the same repeat* (median and range) -- the figure to compare. Batches/step and images/s count the batch rows a
step draws in the timed steps (k D steps draw k batches; a translation batch's row is a (source, target) pair).
Params G counts the networks the family samples from (both of CycleGAN's translators), params D every other trained
network. The budget column is the dataset's ``train.steps`` divided by the median rate: the training loop's time
alone, without evaluation or Ray start-up. ``--image-sizes 16,32`` prepares the datasets at each size
(``data.image_size``) and measures every variant at each, ratios taken within a size.

Phases: ``--at-end`` times the last steps of a run instead of the first (PGGAN at its final resolution, StackGAN's
stage II: what most of their runs cost; SRGAN's adversarial phase, after ``pretrain_share`` (5/6) of its steps
train G alone on the MSE as SRResNet does), for every variant, or with a list for those variants only. The untrained
baselines ``identity`` and ``bicubic`` have a step that does nothing (no batch, no update): their rate is the cost of
a call, their images/s 0 (the table says so in place of a ratio) and their cost all evaluation
(``benchmarks/metric_cost.py``).

    python benchmarks/family_throughput.py --steps 200 --warmup 20 --repeats 3 --threads 1 --at-end srgan,srgan-clf
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
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.task_data import TASK_DATASETS, prepared_datasets  # noqa: E402
from models.families import family_of, get_family  # noqa: E402
from models.family import MAIN_SAMPLER, Family, FamilyRun, Progress, RunContext  # noqa: E402
from models.untrained import UntrainedFamily  # noqa: E402
from pipeline.common.logs import configure_logging  # noqa: E402
from pipeline.config import load  # noqa: E402
from pipeline.data.classifier import feature_network  # noqa: E402
from pipeline.data.store import PreparedData, data_spec, training_arrays  # noqa: E402
from pipeline.training.batches import ShardedBatches  # noqa: E402
from pipeline.training.job import TrainingJob, resolve_job  # noqa: E402

VARIANTS = ("non-saturating", "cgan", "acgan", "sngan", "projection", "biggan", "pix2pix", "pix2pix-l1", "cyclegan",
            "identity", "srgan", "srresnet", "srgan-clf", "srresnet-clf", "bicubic")
REFERENCE = "non-saturating"


def dataset_of(variant: str, chosen: str) -> str:
    """``chosen`` (``--dataset``) when given, else the dataset of the variant's family's task."""
    return chosen or TASK_DATASETS[family_of(variant).task]


def training_batches(job: TrainingJob, prepared: PreparedData) -> ShardedBatches:
    """One worker's batches of the job's task, as the training loop makes them."""
    arrays = training_arrays(prepared, get_family(job.family).task)
    tensors = {key: torch.as_tensor(values, dtype=torch.int64 if key == "y" else torch.float32)
               for key, values in arrays.items()}
    return ShardedBatches(tensors, job.train.batch_size, 0, 1, job.seed, job.data.pairing)


def create_run(job: TrainingJob, prepared: PreparedData) -> FamilyRun:
    """The family's run of ``job`` on the CPU with the training loop's context (one worker, no DDP; the domain
    classifier's features for a family that trains with them)."""
    train, family = job.train, get_family(job.family)
    device = torch.device("cpu")
    context = RunContext(device, lambda module: module, job.seed, train.ema_decay, train.precision, train.ema_start,
                         train.ema_rampup, feature_network(prepared, device) if family.uses_feature_network else None)
    return family.create(job.settings, job.data, context)


def parameter_counts(family: Family, run: FamilyRun) -> dict[str, int]:
    """Trainable parameters of the networks the family samples from (``generator``, or a translation family's
    ``sampler_networks``: both of CycleGAN's translators) and of every other network (D, or a family's several)."""
    generators = {MAIN_SAMPLER, *getattr(family, "sampler_networks", {}).values()}
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in run.modules().items()}
    return {"generator": sum(n for name, n in counts.items() if name in generators),
            "discriminator": sum(n for name, n in counts.items() if name not in generators)}


def measure(job: TrainingJob, prepared: PreparedData, steps: int, warmup: int,
            at_end: bool = False) -> tuple[float, float]:
    """(G steps, batch rows drawn) per second of a fresh run of ``job`` over ``steps`` steps after ``warmup``
    untimed ones; with ``at_end`` the run's progress says it is in its last ``warmup + steps`` steps (a growing G at
    its final resolution, a stacked G in its last stage, SRGAN's adversarial phase), with the images seen of a run
    that got there."""
    run, batches = create_run(job, prepared), training_batches(job, prepared)
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
            started, images_before = time.perf_counter(), images
        run.step(next_batch, rng, Progress(first + step, job.train.steps, images))
    elapsed = time.perf_counter() - started
    return steps / elapsed, (images - images_before) / elapsed


def summarise(jobs: dict[str, TrainingJob], runs: dict[str, dict[str, int]], rates: dict[str, list[float]],
              image_rates: dict[str, list[float]], at_end: dict[str, bool], reference: str,
              image_size: int) -> list[dict]:
    """One row per variant: its dataset, batches per step, parameters, median rates, ratios to the reference's rate of
    the same repeat."""
    rows = []
    for variant, job in jobs.items():
        batch = job.train.batch_size
        rate, image_rate = statistics.median(rates[variant]), statistics.median(image_rates[variant])
        paired = [own / ref for own, ref in zip(rates[variant], rates[reference])]
        rows.append({"image_size": image_size, "variant": variant, "family": job.family, "dataset": job.dataset,
                     "untrained": isinstance(get_family(job.family), UntrainedFamily), "at_end": at_end[variant],
                     "batches_per_step": image_rate / rate / batch, "batch_size": batch,
                     "params_g": runs[variant]["generator"], "params_d": runs[variant]["discriminator"],
                     "steps_per_s": rate, "images_per_s": image_rate, "runs_steps_per_s": rates[variant],
                     "paired_ratios": paired, "paired_ratio": statistics.median(paired),
                     "budget_steps": job.train.steps, "budget_s": job.train.steps / rate})
    return rows


def print_table(rows: list[dict], reference: str) -> None:
    print(f"{'size':>4} {'variant':14} {'family':10} {'dataset':14} {'phase':5} {'batches':>7} {'params G':>9} "
          f"{'params D':>9} {'steps/s':>9} {'images/s':>9} {f'vs {reference}: median [range]':>36} {'budget s':>9}")
    for row in rows:
        paired = row["paired_ratios"]
        spread = ("untrained: its step does nothing" if row["untrained"]
                  else f"{row['paired_ratio']:.3f} [{min(paired):.3f}, {max(paired):.3f}]")
        print(f"{row['image_size']:>4} {row['variant']:14} {row['family']:10} {row['dataset']:14} "
              f"{'end' if row['at_end'] else 'start':5} {row['batches_per_step']:>7.2f} {row['params_g']:>9,} "
              f"{row['params_d']:>9,} {row['steps_per_s']:>9.1f} {row['images_per_s']:>9.0f} {spread:>36} "
              f"{row['budget_s']:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="", help="every variant on this dataset (default: each on its task's, "
                        f"{', '.join(f'{task} {name}' for task, name in TASK_DATASETS.items())})")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated; the first is the reference "
                        f"of the ratios when {REFERENCE} is not among them")
    parser.add_argument("--steps", type=int, default=200, help="timed G steps per measurement")
    parser.add_argument("--warmup", type=int, default=20, help="untimed G steps before them")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--at-end", nargs="?", const="*", default="", metavar="VARIANTS",
                        help="time the last steps of a run (a growing G's final resolution, a stacked G's last stage, "
                        "SRGAN's adversarial phase) instead of the first: of every variant, or of those listed "
                        "(comma-separated)")
    parser.add_argument("--image-sizes", default="", help="comma-separated data.image_size values (default: params')")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "family_throughput.json"))
    args = parser.parse_args()
    configure_logging("WARNING")
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    reference = REFERENCE if REFERENCE in variants else variants[0]
    at_end = {variant: args.at_end == "*" or variant in args.at_end.split(",") for variant in variants}
    datasets = {variant: dataset_of(variant, args.dataset) for variant in variants}
    config = load(Path(args.params))
    sizes = [int(size) for size in args.image_sizes.split(",")] if args.image_sizes else [config.data.image_size]
    rows = []
    load_before = os.getloadavg()
    for size in sizes:
        sized = dataclasses.replace(config, data=dataclasses.replace(config.data, image_size=size))
        rates: dict[str, list[float]] = {variant: [] for variant in variants}
        image_rates: dict[str, list[float]] = {variant: [] for variant in variants}
        with prepared_datasets(sized, datasets.values()) as prepared:
            data = {variant: prepared.data[datasets[variant]] for variant in variants}
            jobs = {variant: resolve_job(sized, datasets[variant], variant, args.seed, data_spec(data[variant]))
                    for variant in variants}
            runs = {variant: parameter_counts(get_family(job.family), create_run(job, data[variant]))
                    for variant, job in jobs.items()}
            for repeat in range(args.repeats):
                for variant, job in jobs.items():
                    rate, image_rate = measure(job, data[variant], args.steps, args.warmup, at_end[variant])
                    rates[variant].append(rate)
                    image_rates[variant].append(image_rate)
                    print(f"{size}×{size} repeat {repeat + 1}/{args.repeats} {variant} on {datasets[variant]}: "
                          f"{rate:.2f} steps/s", flush=True)
        rows.extend(summarise(jobs, runs, rates, image_rates, at_end, reference, size))
    print(f"\n{args.steps} timed G steps after {args.warmup} warm-up, {args.threads} torch thread(s), median of "
          f"{args.repeats} interleaved repeats; ratios to {reference} on {datasets[reference]} of the same repeat; "
          "budget: train.steps of each dataset")
    print_table(rows, reference)
    command = " ".join(["python", "benchmarks/family_throughput.py", *sys.argv[1:]])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": command, "datasets": datasets, "image_sizes": sizes, "reference": reference,
        "reference_dataset": datasets[reference], "steps": args.steps, "warmup_steps": args.warmup,
        "at_end": [variant for variant in variants if at_end[variant]], "repeats": args.repeats,
        "threads": args.threads, "seed": args.seed,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
        "python": platform.python_version(), "torch": torch.__version__,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()}, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
