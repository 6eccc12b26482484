"""`ray job submit` of a training to a real `ray start --head` on 127.0.0.1, and `ganlab train --address` to it."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ray_job_submit_trains_on_the_running_cluster(prepared):
    import tempfile

    project = Path.cwd()
    (project / "params.yaml").write_text(yaml.safe_dump({
        "model": {"width": 16, "z_dim": 8}, "data": {"n_points": 400, "image_size": 8},
        "train": {"steps": 6, "batch_size": 16, "log_every": 2, "eval_every": 3, "eval_samples": 100, "checkpoint_every": 3},
        "eval": {"n_samples": 200, "batch_size": 100}, "ray": {"cpus_per_worker": 1}}))
    bin_dir = Path(sys.executable).parent
    # Ray's token authentication stays on; the cluster and the client share this test's own token.
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32), "GANLAB_LOG_LEVEL": "INFO"}
    env.pop("RAY_ADDRESS", None)
    gcs, dashboard = _free_port(), _free_port()
    ray_tmp = tempfile.mkdtemp(prefix="rj-", dir="/tmp")  # Ray's socket paths must stay under 108 bytes
    start = subprocess.run(
        ["ray", "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dashboard}", "--num-cpus=2", "--disable-usage-stats",
         f"--temp-dir={ray_tmp}"],
        env=env, capture_output=True, text=True, timeout=180)
    assert start.returncode == 0, start.stdout + start.stderr
    try:
        deadline = time.monotonic() + 120
        while True:  # the head's job agent registers a little after `ray start` returns
            job = subprocess.run(
                ["ray", "job", "submit", f"--address=http://127.0.0.1:{dashboard}", "--",
                 "bash", "-c", f"cd {project} && ganlab train --dataset ring8 --variant hinge --seed 0"],
                env=env, capture_output=True, text=True, timeout=600)
            output = job.stdout + job.stderr
            if "No available agent" not in output or time.monotonic() > deadline:
                break
            time.sleep(3.0)
        assert job.returncode == 0, output[-5000:]
        assert "succeeded" in output
        assert "joining the Ray cluster" in output, "the job's driver joined the running cluster"
        summary = json.loads((project / "runs/ring8/hinge/seed0/train_summary.json").read_text())
        assert summary["steps"] == 6

        # `ganlab train --address` joins the same cluster directly, without a Ray job.
        direct = subprocess.run(["ganlab", "train", "--address", f"127.0.0.1:{gcs}", "--dataset", "ring8",
                                 "--variant", "wgan", "--seed", "0"], cwd=project, env=env, capture_output=True,
                                text=True, timeout=600)
        assert direct.returncode == 0, (direct.stdout + direct.stderr)[-5000:]
        assert f"joining the Ray cluster at 127.0.0.1:{gcs}" in direct.stdout + direct.stderr
        joined = json.loads((project / "runs/ring8/wgan/seed0/train_summary.json").read_text())
        assert joined["steps"] == 6
        assert [w["node_id"] for w in joined["workers"]] == [w["node_id"] for w in summary["workers"]], \
            "the worker ran on the cluster's node, not on a local Ray of its own"
    finally:
        subprocess.run(["ray", "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(ray_tmp, ignore_errors=True)
