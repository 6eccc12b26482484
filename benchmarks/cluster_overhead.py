"""What "nothing through the driver's disk" costs: the train stage's wall time on a local instance and on a joined
cluster, with the code shipped or not, and with the run storage a local folder or an S3 bucket (moto's server on
127.0.0.1), in one run.

The same trainings (``--dataset`` × ``--variants``, seed 0, ``--steps`` generator steps each, one CPU per worker)
go through ``ganlab train`` in these setups, each in a fresh project folder:

  local instance             the default: a local Ray started by the command, storage ``<project>/.ganlab``;
  local instance, S3         ``GANLAB_STORAGE=s3://...`` on moto: every checkpoint, every run's files and the Tune
                             experiment go through an S3 API on loopback;
  cluster, code shipped      a one-node cluster (``ray start --head`` on 127.0.0.1) joined through ``RAY_ADDRESS``:
                             the per-node checks before compute, and ``ray.ship_code: true`` (``py_modules``);
  cluster, installed code    the same with ``ray.ship_code: false``: the shipping's own share.

The setups are interleaved ``--repeats`` times (the machine drifts by ±20 % within minutes); the table gives
each setup's median wall time and its ratio to the default's in the same repeat (median and range).

    python benchmarks/cluster_overhead.py

Prints a table and writes ``benchmarks/results/cluster_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load  # noqa: E402
from pipeline.tracking.ui import free_port, stop_group  # noqa: E402

GANLAB = str(Path(sys.executable).parent / "ganlab")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def project(base: Path, name: str, args: argparse.Namespace, ship_code: bool) -> Path:
    """A fresh project with the benchmark's params, its dataset prepared."""
    folder = base / name
    folder.mkdir(parents=True)
    raw = load(ROOT / "params.yaml").to_dict()
    raw["benchmark"].update(datasets=[args.dataset], variants=args.variants.split(","), seeds=[0])
    raw["ray"].update(cpus_per_worker=1, ship_code=ship_code)
    raw["overrides"].setdefault(args.dataset, {}).setdefault("train", {}).update(
        steps=args.steps, eval_every=args.steps, checkpoint_every=max(args.steps // 2, 1))
    (folder / "params.yaml").write_text(yaml.safe_dump(raw))
    subprocess.run([GANLAB, "prepare", "--dataset", args.dataset], cwd=folder, check=True, capture_output=True)
    return folder


def environment(**variables: str) -> dict[str, str]:
    env = {**os.environ, **variables, "GANLAB_LOG_LEVEL": "WARNING"}
    for name in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI", "GANLAB_STORAGE"):
        if name not in variables:
            env.pop(name, None)
    return env


def timed(folder: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run([GANLAB, "train"], cwd=folder, env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"ganlab train failed in {folder}:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def s3_server(port: int) -> subprocess.Popen:
    import pyarrow.fs

    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bucket = pyarrow.fs.S3FileSystem(access_key="bench", secret_key="bench", region="us-east-1", scheme="http",
                                      endpoint_override=f"127.0.0.1:{port}", allow_bucket_creation=True)
    for _ in range(60):
        try:
            bucket.create_dir("bench")
            return server
        except OSError:
            time.sleep(1.0)
    stop_group(server)
    raise SystemExit("moto's S3 server did not start")


def ray_head(token: str) -> tuple[subprocess.Popen, str]:
    """A one-node Ray cluster on 127.0.0.1 (its own process group) and its address, once a driver can join it."""
    port = free_port("127.0.0.1")
    env = environment(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    ray = str(Path(sys.executable).parent / "ray")
    head = subprocess.Popen([ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
                             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = f"import ray; ray.init(address='127.0.0.1:{port}', logging_level='ERROR')"
    for _ in range(60):
        if subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True).returncode == 0:
            return head, f"127.0.0.1:{port}"
        time.sleep(2.0)
    stop_group(head)
    raise SystemExit("ray start --head did not come up")


def run_setups(args: argparse.Namespace, base: Path, port: int, address: str, token: str) -> dict[str, list[float]]:
    joined = {"RAY_ADDRESS": address, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
              "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    setups = {"local instance": (True, {}),
              "local instance, S3": (True, {"GANLAB_STORAGE": "s3://bench/{name}?endpoint_override=127.0.0.1:"
                                                              f"{port}&scheme=http", **CREDENTIALS}),
              "cluster, code shipped": (True, joined), "cluster, installed code": (False, joined)}
    walls: dict[str, list[float]] = {name: [] for name in setups}
    for repeat in range(args.repeats):
        for index, (name, (ship, variables)) in enumerate(setups.items()):
            folder = project(base, f"r{repeat}-s{index}", args, ship)
            env = environment(**{k: v.format(name=folder.name) for k, v in variables.items()})
            walls[name].append(timed(folder, env))
            print(f"repeat {repeat + 1}/{args.repeats}  {name:<24} {walls[name][-1]:6.1f} s", flush=True)
    return walls


def table(walls: dict[str, list[float]]) -> list[dict[str, Any]]:
    base = walls["local instance"]
    rows = []
    for name, times in walls.items():
        ratios = [t / b for t, b in zip(times, base)]
        rows.append({"setup": name, "median_s": statistics.median(times), "ratio_median": statistics.median(ratios),
                     "ratio_min": min(ratios), "ratio_max": max(ratios), "walls_s": times})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ring8")
    parser.add_argument("--variants", default="hinge,lsgan,wgan-gp,non-saturating")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cluster_overhead.json"))
    args = parser.parse_args()
    port, token = free_port("127.0.0.1"), secrets.token_hex(32)
    server = s3_server(port)
    head, address = ray_head(token)
    try:
        with tempfile.TemporaryDirectory(prefix="ganlab-overhead-") as tmp:
            rows = table(run_setups(args, Path(tmp), port, address, token))
    finally:
        stop_group(head)
        stop_group(server)
    print(f"\n{'setup':<26} {'median wall':>12} {'× default (paired median [min, max])':>40}")
    for row in rows:
        print(f"{row['setup']:<26} {row['median_s']:>10.1f} s {row['ratio_median']:>14.3f} "
              f"[{row['ratio_min']:.3f}, {row['ratio_max']:.3f}]")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "machine": platform.machine(), "cpus": os.cpu_count(),
                               "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
