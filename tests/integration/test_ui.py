"""`ganlab ui` serves the project's MLflow store on 127.0.0.1 and stops every process it started."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT
from tests.integration.commands import command_env, start_ui

pytestmark = pytest.mark.slow


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_ui_serves_the_project_store_on_loopback_and_stops_cleanly(tmp_path: Path):
    from mlflow.tracking import MlflowClient

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(yaml.safe_load((PROJECT / "params.yaml").read_text())))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("ganlab")
    run = client.create_run(experiment, tags={"variant": "wgan-gp", "dataset": "ring8"}, run_name="ring8-wgan-gp-seed0")
    client.log_metric(run.info.run_id, "loss/d", 0.5, step=1)
    client.set_terminated(run.info.run_id)

    process, port, printed = start_ui(tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        assert url in printed, f"no URL printed: {printed!r}"
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and "mlflow" in page.read().decode().lower()
        query = f"{url}/api/2.0/mlflow/runs/search"
        request = urllib.request.Request(query, data=json.dumps({"experiment_ids": [experiment]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            runs = json.loads(answer.read())["runs"]
        tags = {tag["key"]: tag["value"] for tag in runs[0]["data"]["tags"]}
        assert tags["variant"] == "wgan-gp" and tags["dataset"] == "ring8"
        second = subprocess.run(["ganlab", "ui", "--port", str(port)], cwd=tmp_path, env=command_env(),
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and second.stderr.strip().splitlines() == [
            f"ganlab: error: --port {port} on 127.0.0.1 is not free (Address already in use; another program or "
            "another `ganlab ui` holds it): choose another with --port, or leave --port out for a free one"], second
        assert url not in second.stdout, "the second one does not pass the first one's address off as its own"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 15
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not listening(port), "the MLflow UI's processes outlived `ganlab ui`"
