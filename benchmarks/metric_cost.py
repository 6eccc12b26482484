"""Cost of the evaluate stage's scorers on this CPU, at 8 × 8, 16 × 16 and 32 × 32, in one run: the two
pretrained-network-free metrics of generated images (SWD, MS-SSIM), and the scorers of the image-to-image tasks on
their data (paired translation, super-resolution, unpaired translation, luminance).

What is measured, per size (``--sizes``):

* ``analysis.sliced_wasserstein.sliced_wasserstein_distance`` of N generated against N real images (3 channels; the
  whole SWD protocol: Laplacian pyramid, 128 neighbourhoods per image and level, 4 × 128 directions, both sets'
  projections sorted), in seconds per 1,000 images (per set; the real set is measured alongside each time, as the
  scorer does); and ``analysis.ms_ssim.mean_pairwise_ms_ssim`` of the scorer's 1,000 random pairs, in seconds per
  1,000 pairs (its cost does not grow with the set; the scorer pays it once for the generated samples and once per
  dataset for the real images).
* Every registered scorer of each ``--datasets`` dataset's image-to-image task (``pipeline.scoring.scorers.paired``,
  ``super_resolution``, ``unpaired``, ``pipeline.scoring.final_scorers.luminance``; Inception's cost is
  ``benchmarks/eval_throughput.py``'s), built as the evaluate stage builds it (``Scorer.build`` on the data the
  ``prepare`` stage writes, prepared in a temporary folder: ``benchmarks/task_data.py``) for N samples, and its
  ``score`` of N outputs: *build* seconds (paid once per dataset and direction: the domain classifier and its real
  statistics loaded, the bicubic baseline of N inputs) and *score* seconds per 1,000 images (paid for every sampler
  of every run, final and best: PSNR, SSIM, L1, the classifier's features and FIDs, label preservation, cycle
  error). A scorer that reports the domain classifier's FID (``fid_clf``) is also timed on the same data with the
  classifier left out of its manifest (as on unlabelled data), where it applies without one: the difference is the
  FID's cost. The unpaired scorer is given the round trip A→B→A (``cycled``), as the evaluate stage gives the
  main sampler's, so its cycle error is measured.

The classifier's features run on one torch thread (``--threads``; two threads on a busy two-core machine make its
small convolutions several times slower and erratic). Images are blurred uniform noise in [-1, 1] of the scored
shape, seeded; the values do not matter, only the shapes (a metric that is not computable on the data, e.g. an
intra-FID without more test sources per class than the classifier has features, is listed as such). Sizes and
measurements run in turn, ``--repeats`` times (8, 16, 32, 8, 16, 32, …), so that the machine's drift hits all
alike; each repeat times a fresh build, and a score by one scorer built and run once, untimed, before them (a freshly
loaded classifier's first pass is slower; the evaluate stage builds a scorer once per dataset and scores every run's
samplers with it); the tables show medians and the range. A cost that does not grow with N (a FID's matrix square
root, MS-SSIM's pairs) is still divided by N / 1,000: compare rows at one ``--images``.

    python benchmarks/metric_cost.py --images 1000 --repeats 3

Prints two tables and writes ``benchmarks/results/metric_cost.json``.
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
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import scipy.ndimage
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.ms_ssim import mean_pairwise_ms_ssim, scale_count  # noqa: E402
from analysis.sliced_wasserstein import level_sides, sliced_wasserstein_distance  # noqa: E402
from benchmarks.task_data import PreparedDatasets, prepared_datasets  # noqa: E402
from pipeline.common.logs import configure_logging  # noqa: E402
from pipeline.config import Config, EvalConfig, load  # noqa: E402
from pipeline.data.store import PreparedData  # noqa: E402
from pipeline.scoring import registry  # noqa: E402
from pipeline.scoring.conditions import conditions_for  # noqa: E402
from pipeline.scoring.final_scorers import load_final_scorers  # noqa: E402
from pipeline.scoring.final_scorers.ms_ssim import PAIRS  # noqa: E402
from pipeline.scoring.scorers.inception import InceptionScorer  # noqa: E402

SIDES = (8, 16, 32)
CHANNELS = 3
DATASETS = ("edges2digits", "digits-sr2", "digits2bold", "photos-sr2")
IMAGE_TO_IMAGE = ("paired-translation", "super-resolution", "unpaired-translation")


def images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """``n`` float32 images of ``shape`` (C, S, S) in [-1, 1]: uniform noise blurred a little."""
    noise = np.random.default_rng(seed).uniform(-1, 1, (n, *shape))
    return np.clip(scipy.ndimage.gaussian_filter(noise, sigma=(0, 0, 0.8, 0.8)) * 3, -1, 1).astype(np.float32)


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def summarise(side: int, n: int, swd_times: list[float], ms_ssim_times: list[float]) -> dict:
    """One row: the medians and ranges, per 1,000 images (SWD) and per 1,000 pairs (MS-SSIM)."""
    swd = [t * 1000 / n for t in swd_times]
    pairs = [t * 1000 / PAIRS for t in ms_ssim_times]
    return {"side": side, "channels": CHANNELS, "images": n, "swd_levels": list(level_sides(side)),
            "swd_s_per_1k_images": statistics.median(swd), "swd_runs_s_per_1k_images": swd,
            "ms_ssim_scales": scale_count(side), "ms_ssim_pairs": PAIRS,
            "ms_ssim_s_per_1k_pairs": statistics.median(pairs), "ms_ssim_runs_s_per_1k_pairs": pairs}


def print_table(rows: list[dict]) -> None:
    print(f"{'size':>7} {'SWD levels':>12} {'SWD s / 1k images [range]':>28} {'MS-SSIM scales':>15} "
          f"{'MS-SSIM s / 1k pairs [range]':>30}")
    for row in rows:
        swd, pairs = row["swd_runs_s_per_1k_images"], row["ms_ssim_runs_s_per_1k_pairs"]
        size = f"{row['side']}x{row['side']}"
        levels = ",".join(map(str, row["swd_levels"]))
        print(f"{size:>7} {levels:>12} {row['swd_s_per_1k_images']:>9.2f} [{min(swd):.2f}, {max(swd):.2f}]"
              f"{'':>4} {row['ms_ssim_scales']:>15} {row['ms_ssim_s_per_1k_pairs']:>11.3f} "
              f"[{min(pairs):.3f}, {max(pairs):.3f}]")


@dataclasses.dataclass
class ScorerCase:
    """One scorer on one prepared dataset (with or without its domain classifier), the inputs of its ``score`` and
    its measurements."""

    side: int
    prepared: PreparedData
    reference: Path
    task: str
    cls: type[registry.Scorer]
    classifier: bool | None  # None: the dataset has none
    eval_config: EvalConfig
    samples: np.ndarray
    conditions: dict[str, np.ndarray]
    build_times: list[float] = dataclasses.field(default_factory=list, init=False)
    score_times: list[float] = dataclasses.field(default_factory=list, init=False)
    scored: dict[str, float | None] = dataclasses.field(default_factory=dict, init=False)
    scorer: registry.Scorer | None = dataclasses.field(default=None, init=False)

    def build(self, n: int) -> registry.Scorer:
        return self.cls.build(self.prepared, self.reference, self.eval_config, n)

    def warm_up(self, n: int) -> None:
        """Build the scorer that :meth:`record` times and score once, untimed (a freshly loaded classifier's first
        pass is slower; the evaluate stage scores every run's samplers with one built scorer)."""
        self.scorer = self.build(n)
        self.scored = self.scorer.score(self.samples, self.conditions, "benchmark")

    def record(self, n: int) -> None:
        """Seconds of one build (of a scorer for ``n`` samples) and of one score of ``n`` samples by the warm one."""
        started = time.perf_counter()
        self.build(n)
        built = time.perf_counter()
        self.scored = self.scorer.score(self.samples, self.conditions, "benchmark")
        self.build_times.append(built - started)
        self.score_times.append(time.perf_counter() - built)


def without_classifier(prepared: PreparedData) -> PreparedData:
    """The same data with the domain classifier left out of its manifest (what a scorer sees of unlabelled data)."""
    return dataclasses.replace(prepared, manifest={key: value for key, value in prepared.manifest.items()
                                                   if key != "classifier"})


def image_to_image_task(prepared: PreparedData) -> str:
    """The image-to-image task the data serves (its manifest's ``tasks``); data of none is refused."""
    task = next((task for task in IMAGE_TO_IMAGE if task in prepared.manifest["tasks"]), None)
    if task is None:
        raise SystemExit(f"--datasets {prepared.dataset}: serves {', '.join(prepared.manifest['tasks'])}, none of "
                         f"{', '.join(IMAGE_TO_IMAGE)}; name datasets with sources (e.g. {', '.join(DATASETS)})")
    return task


def scorer_cases(config: Config, side: int, data: PreparedDatasets, n: int, seed: int) -> list[ScorerCase]:
    """Every registered scorer (but Inception's) of each dataset's image-to-image task that applies, with the domain
    classifier and, where it measures something through it and applies without it, without."""
    cases = []
    for dataset, prepared in data.data.items():
        task, eval_config = image_to_image_task(prepared), config.for_dataset(dataset).eval
        conditions = conditions_for(task, prepared, n)
        if task == "unpaired-translation":
            conditions["cycled"] = images(n, tuple(prepared.manifest["source_shape"]), seed + 2)
        samples = images(n, tuple(prepared.manifest["shape"]), seed + 1)
        labelled = "classifier" in prepared.manifest
        for cls in registry.scorers_for(task, prepared, eval_config):
            if cls is InceptionScorer:
                continue
            case = ScorerCase(side, prepared, data.reference(dataset), task, cls, labelled or None, eval_config,
                              samples, conditions)
            cases.append(case)
            bare = dataclasses.replace(case, prepared=without_classifier(prepared), classifier=False)
            if labelled and cls.applies(bare.prepared, eval_config) and \
                    bare.build(n).metric_names() != case.build(n).metric_names():
                cases.append(bare)
    return cases


def summarise_scorer(case: ScorerCase, n: int) -> dict:
    """One row: the scorer's build seconds and score seconds per 1,000 images (medians and runs)."""
    score = [t * 1000 / n for t in case.score_times]
    return {"side": case.side, "dataset": case.prepared.dataset, "task": case.task, "scorer": case.cls.name,
            "shape": list(case.prepared.manifest["shape"]), "images": n, "classifier": case.classifier,
            "metrics": list(case.scored),
            "not_computed": [name for name, value in case.scored.items() if value is None],
            "build_s": statistics.median(case.build_times), "build_runs_s": case.build_times,
            "score_s_per_1k_images": statistics.median(score), "score_runs_s_per_1k_images": score}


def print_scorer_table(rows: list[dict]) -> None:
    print(f"{'size':>7} {'dataset':13} {'scorer':21} {'fid_clf':>7} {'build s [range]':>22} "
          f"{'score s / 1k images [range]':>29}  not computed")
    for row in rows:
        build, score = row["build_runs_s"], row["score_runs_s_per_1k_images"]
        size = f"{row['side']}x{row['side']}"
        classifier = {True: "with", False: "without", None: "-"}[row["classifier"]]
        print(f"{size:>7} {row['dataset']:13} {row['scorer']:21} {classifier:>7} {row['build_s']:>8.3f} "
              f"[{min(build):.3f}, {max(build):.3f}] {row['score_s_per_1k_images']:>10.3f} "
              f"[{min(score):.3f}, {max(score):.3f}]  {', '.join(row['not_computed']) or '-'}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="images per set (SWD's N, the scorers' N)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the domain classifier's features)")
    parser.add_argument("--sizes", default=",".join(map(str, SIDES)), help="comma-separated image sides")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated datasets whose "
                        "image-to-image task's scorers are timed ('' for none)")
    parser.add_argument("--params", default=str(ROOT / "params.yaml"), help="data and classifier settings of the "
                        "prepared datasets, eval settings of the scorers")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "metric_cost.json"))
    return parser.parse_args()


def measure_repeats(sides: list[int], cases: dict[int, list[ScorerCase]], n: int, repeats: int,
                    seed: int) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """SWD's and MS-SSIM's seconds at each side, ``repeats`` times over the sides in turn, each side's scorers timed
    beside them (recorded in the cases)."""
    sets = {side: (images(n, (CHANNELS, side, side), seed), images(n, (CHANNELS, side, side), seed + 1))
            for side in sides}
    swd_times: dict[int, list[float]] = {side: [] for side in sides}
    ms_ssim_times: dict[int, list[float]] = {side: [] for side in sides}
    for repeat in range(repeats):
        for side, (real, generated) in sets.items():
            swd_times[side].append(timed(lambda: sliced_wasserstein_distance(real, generated, seed)))
            ms_ssim_times[side].append(timed(lambda: mean_pairwise_ms_ssim(generated, None, PAIRS, seed)))
            for case in cases[side]:
                case.record(n)
            print(f"repeat {repeat + 1}/{repeats} {side}x{side}: SWD {swd_times[side][-1]:.2f} s, "
                  f"MS-SSIM {ms_ssim_times[side][-1]:.2f} s, {len(cases[side])} scorers "
                  f"{sum(case.build_times[-1] + case.score_times[-1] for case in cases[side]):.2f} s", flush=True)
    return swd_times, ms_ssim_times


def main() -> None:
    args = parse_arguments()
    configure_logging("ERROR")
    torch.set_num_threads(args.threads)
    load_final_scorers()
    sides = [int(side) for side in args.sizes.split(",")]
    datasets = [name for name in args.datasets.split(",") if name]
    config = load(Path(args.params))
    with ExitStack() as stack:
        cases: dict[int, list[ScorerCase]] = {}
        for side in sides:
            sized = dataclasses.replace(config, data=dataclasses.replace(config.data, image_size=side))
            cases[side] = scorer_cases(sized, side, stack.enter_context(prepared_datasets(sized, datasets)),
                                       args.images, args.seed)
            for case in cases[side]:
                case.warm_up(args.images)
        load_before = os.getloadavg()
        swd_times, ms_ssim_times = measure_repeats(sides, cases, args.images, args.repeats, args.seed)
    rows = [summarise(side, args.images, swd_times[side], ms_ssim_times[side]) for side in sides]
    scorer_rows = [summarise_scorer(case, args.images) for side in sides for case in cases[side]]
    print(f"\n{args.images} generated against {args.images} real images ({CHANNELS} channels), MS-SSIM of {PAIRS} "
          f"pairs; median of {args.repeats} interleaved repeats; load average before {load_before[0]:.1f}")
    print_table(rows)
    print(f"\nScorers of {args.images} outputs (build: once per dataset and direction; score: per sampler, final and "
          f"best), on the prepared data of each size, {args.threads} torch thread(s)")
    print_scorer_table(scorer_rows)
    command = " ".join(["python", "benchmarks/metric_cost.py", *sys.argv[1:]])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": command, "images": args.images, "repeats": args.repeats, "seed": args.seed, "threads": args.threads,
        "datasets": datasets,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()}, "rows": rows,
        "scorer_rows": scorer_rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
