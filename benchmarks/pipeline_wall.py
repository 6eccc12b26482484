"""Wall time of the train stage: one process (and one Ray start) per run against the fan-out, in one run.

The same trainings (``--dataset`` × ``--variants``, seed 0, ``--steps`` generator steps each) go through

  per-run        one ``ganlab train --dataset D --variant V --seed S`` process per run, one after another, each
                 starting its own Ray and training with ``ray.cpus_per_worker = --per-run-cpus`` threads (what
                 the one-stage-per-run dvc.yaml did);
  fan-out        one ``ganlab train`` for the whole list, ``ray.cpus_per_worker = 1``: as many runs at once as
                 the machine has CPUs;
  fan-out, 1×N   the fan-out with ``ray.cpus_per_worker = --per-run-cpus``, one run at a time: the share of
                 the gain that the single Ray start brings, apart from running side by side.

Each setup runs in its own fresh project folder (so no run is kept from another setup). Target: the
fan-out at most 0.5 × the per-run path's wall time. Then ``--cluster-runs`` short trainings on a simulated
two-node cluster (``ray.cluster_utils.Cluster``, ``--cluster-cpus`` CPUs per node, fractional
``ray.cpus_per_worker``): how many ran at once (from their MLflow runs' start and end times) and on how
many nodes.

    python benchmarks/pipeline_wall.py

Prints a table and writes ``benchmarks/results/pipeline_wall.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.common.logs import configure_logging  # noqa: E402
from pipeline.config import load, parse  # noqa: E402
from pipeline.data.stage import prepare  # noqa: E402

GANLAB = str(Path(sys.executable).parent / "ganlab")


@functools.cache
def project_params() -> str:
    """params.yaml as it was when the benchmark started (an edit during the run does not change the setups)."""
    return json.dumps(load(ROOT / "params.yaml").to_dict())


def params(args: argparse.Namespace, cpus_per_worker: float, variants: list[str], steps: int) -> dict[str, Any]:
    raw = json.loads(project_params())
    raw["benchmark"].update(datasets=[args.dataset], variants=variants, seeds=[0])
    raw["ray"]["cpus_per_worker"] = cpus_per_worker
    raw["overrides"].setdefault(args.dataset, {}).setdefault("train", {}).update(steps=steps)
    raw["mlflow"]["experiment"] = "ganlab-pipeline-wall"
    return raw


def project(base: Path, name: str, raw: dict[str, Any], prepared: Path) -> Path:
    folder = base / name
    shutil.copytree(prepared / "data", folder / "data")
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def timed(commands: list[list[str]], cwd: Path) -> float:
    started = time.perf_counter()
    for command in commands:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed in {cwd}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def local_setups(args: argparse.Namespace, base: Path, prepared: Path) -> list[dict[str, Any]]:
    per_run = params(args, args.per_run_cpus, args.variants, args.steps)
    fan_out = params(args, 1, args.variants, args.steps)
    setups = [
        ("per-run", per_run, [[GANLAB, "train", "--dataset", args.dataset, "--variant", v, "--seed", "0"]
                              for v in args.variants]),
        ("fan-out", fan_out, [[GANLAB, "train"]]),
        (f"fan-out, 1×{args.per_run_cpus:g}", per_run, [[GANLAB, "train"]]),
    ]
    rows = []
    for name, raw, commands in setups:
        wall = timed(commands, project(base, name.replace(",", "").replace(" ", "-"), raw, prepared))
        rows.append({"setup": name, "runs": len(args.variants), "cpus_per_worker": raw["ray"]["cpus_per_worker"],
                     "wall_s": round(wall, 1)})
        print(f"{name}: {wall:.0f} s", flush=True)
    for row in rows:
        row["ratio_to_per_run"] = round(row["wall_s"] / rows[0]["wall_s"], 3)
    return rows


def concurrency(spans: list[tuple[int, int]]) -> int:
    """The most runs whose [start, end) intervals hold one instant."""
    return max(sum(start <= t < end for start, end in spans) for t, _ in spans)


def cluster_run(args: argparse.Namespace, base: Path, prepared: Path) -> dict[str, Any]:
    import ray
    from mlflow.tracking import MlflowClient
    from ray.cluster_utils import Cluster

    from pipeline.tracking.store import resolve_tracking_uri
    from pipeline.training.stage import train_matrix

    variants = (args.variants * args.cluster_runs)[:args.cluster_runs]
    raw = params(args, args.cluster_cpus_per_worker, sorted(set(variants)), args.cluster_steps)
    raw["benchmark"]["seeds"] = list(range(-(-args.cluster_runs // len(set(variants)))))
    folder = project(base, "cluster", raw, prepared)
    os.chdir(folder)
    config = parse(raw, "pipeline_wall cluster params")
    runs = config.benchmark_runs()[:args.cluster_runs]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cluster_cpus})
    cluster.add_node(num_cpus=args.cluster_cpus)
    started = time.perf_counter()
    try:
        ray.init(address=cluster.address)
        summaries = train_matrix(config, runs)
    finally:
        ray.shutdown()
        cluster.shutdown()
    wall = time.perf_counter() - started
    client = MlflowClient(resolve_tracking_uri(config))
    experiment = client.get_experiment_by_name(config.mlflow.experiment)
    found = client.search_runs([experiment.experiment_id], "tags.stage = 'train'")
    spans = [(r.info.start_time, r.info.end_time) for r in found]
    return {"runs": len(summaries), "nodes": 2, "cpus_per_node": args.cluster_cpus,
            "cpus_per_worker": args.cluster_cpus_per_worker, "steps": args.cluster_steps,
            "most_at_once": concurrency(spans),
            "nodes_used": len({w["node_id"] for s in summaries for w in s["workers"]}), "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ring8")
    parser.add_argument("--variants", nargs="+", default=["minimax", "non-saturating", "wgan", "wgan-gp", "lsgan", "hinge"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--per-run-cpus", type=float, default=2, help="CPUs (threads) of a run in the per-run path")
    parser.add_argument("--cluster-runs", type=int, default=6)
    parser.add_argument("--cluster-steps", type=int, default=300)
    parser.add_argument("--cluster-cpus", type=int, default=2, help="CPUs of each simulated node")
    parser.add_argument("--cluster-cpus-per-worker", type=float, default=0.5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline_wall.json"))
    args = parser.parse_args()
    configure_logging("WARNING")
    project_params()
    with tempfile.TemporaryDirectory(prefix="ganlab-wall-bench-") as tmp:
        base = Path(tmp)
        (base / "prepared").mkdir()
        os.chdir(base / "prepared")
        prepare(parse(json.loads(project_params())), args.dataset)
        rows = local_setups(args, base, base / "prepared")
        cluster = cluster_run(args, base, base / "prepared")
        os.chdir(ROOT)
    print(f"\n{len(args.variants)} trainings of {args.dataset}, {args.steps} steps each, on {os.cpu_count()} CPUs")
    print(f"{'setup':16} {'cpus/worker':>11} {'wall s':>7} {'vs per-run':>10}")
    for row in rows:
        print(f"{row['setup']:16} {row['cpus_per_worker']:>11g} {row['wall_s']:>7.0f} {row['ratio_to_per_run']:>10.3f}")
    print(f"\nsimulated cluster: {cluster['runs']} runs of {cluster['steps']} steps on {cluster['nodes']} nodes × "
          f"{cluster['cpus_per_node']} CPUs, {cluster['cpus_per_worker']:g} CPU per worker: at most "
          f"{cluster['most_at_once']} at once, on {cluster['nodes_used']} node(s), {cluster['wall_s']:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "machine": platform.machine(), "cpus": os.cpu_count(),
                               "rows": rows, "cluster": cluster}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
