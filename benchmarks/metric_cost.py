"""Cost of the two pretrained-network-free metrics of the evaluate stage on this CPU, at 8 × 8, 16 × 16 and 32 × 32
(3 channels), in one run.

What is measured: ``analysis.sliced_wasserstein.sliced_wasserstein_distance`` of N generated against N real images
(the whole SWD protocol: Laplacian pyramid, 128 neighbourhoods per image and level, 4 × 128 directions, both sets'
projections sorted), reported in seconds per 1,000 images (per set; the real set is measured alongside each time, as
the scorer does); and ``analysis.ms_ssim.mean_pairwise_ms_ssim`` of the scorer's 1,000 random pairs, in seconds per
1,000 pairs (its cost does not grow with the set; the scorer pays it once for the generated samples and once per
dataset for the real images). Images are blurred uniform noise in [-1, 1], seeded; the values do not matter, only the
shapes. Sizes run in turn, ``--repeats`` times (8, 16, 32, 8, 16, 32, …), so that the machine's drift hits all alike;
the table shows medians and the range.

    python benchmarks/metric_cost.py --images 1000 --repeats 3

Prints a table and writes ``benchmarks/results/metric_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.ms_ssim import mean_pairwise_ms_ssim, scale_count  # noqa: E402
from analysis.sliced_wasserstein import level_sides, sliced_wasserstein_distance  # noqa: E402
from pipeline.scoring.final_scorers.ms_ssim import PAIRS  # noqa: E402

SIDES = (8, 16, 32)
CHANNELS = 3


def images(n: int, side: int, seed: int) -> np.ndarray:
    """``n`` float32 images (n, 3, side, side) in [-1, 1]: uniform noise blurred a little."""
    noise = np.random.default_rng(seed).uniform(-1, 1, (n, CHANNELS, side, side))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="images per set (SWD's N)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "metric_cost.json"))
    args = parser.parse_args()
    sets = {side: (images(args.images, side, args.seed), images(args.images, side, args.seed + 1)) for side in SIDES}
    swd_times: dict[int, list[float]] = {side: [] for side in SIDES}
    ms_ssim_times: dict[int, list[float]] = {side: [] for side in SIDES}
    load_before = os.getloadavg()
    for repeat in range(args.repeats):
        for side, (real, generated) in sets.items():
            swd_times[side].append(timed(lambda: sliced_wasserstein_distance(real, generated, args.seed)))
            ms_ssim_times[side].append(timed(lambda: mean_pairwise_ms_ssim(generated, None, PAIRS, args.seed)))
            print(f"repeat {repeat + 1}/{args.repeats} {side}x{side}: SWD {swd_times[side][-1]:.2f} s, "
                  f"MS-SSIM {ms_ssim_times[side][-1]:.2f} s", flush=True)
    rows = [summarise(side, args.images, swd_times[side], ms_ssim_times[side]) for side in SIDES]
    print(f"\n{args.images} generated against {args.images} real images ({CHANNELS} channels), MS-SSIM of {PAIRS} "
          f"pairs; median of {args.repeats} interleaved repeats; load average before {load_before[0]:.1f}")
    print_table(rows)
    command = " ".join(["python", "benchmarks/metric_cost.py", *sys.argv[1:]])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "command": command, "images": args.images, "repeats": args.repeats, "seed": args.seed,
        "cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
        "python": platform.python_version(), "numpy": np.__version__,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()}, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
