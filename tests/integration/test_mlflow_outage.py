"""The MLflow tracking server goes away in the middle of a training and comes back: the training finishes and
every metric step reaches the run exactly once (rows the server could not take are kept and sent later)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import yaml

from pipeline.tracking.ui import free_port, stop_group
from tests.conftest import tiny_config
from tests.integration.commands import command_env, start_mlflow_server

pytestmark = pytest.mark.slow


def test_a_training_survives_a_tracking_server_outage(prepared, in_tmp):
    from mlflow.tracking import MlflowClient

    port = free_port("127.0.0.1")
    store = in_tmp / "server" / "mlflow.db"
    store.parent.mkdir()
    uri = f"http://127.0.0.1:{port}"
    steps, every = 6000, 20
    params = tiny_config(train={"steps": steps, "log_every": every, "eval_every": 3000, "checkpoint_every": 3000},
                         ray={"cpus_per_worker": 1}, mlflow={"tracking_uri": uri}).to_dict()
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    server = start_mlflow_server(store, port)
    driver = subprocess.Popen(["ganlab", "train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"], cwd=in_tmp,
                              env={**command_env(), "GANLAB_TRACKING_RETRY_S": "300"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        client = MlflowClient(tracking_uri=uri)
        deadline = time.monotonic() + 300
        logged: list[int] = []
        while len(logged) < 20:
            assert driver.poll() is None and time.monotonic() < deadline, driver.stderr.read()[-3000:]
            runs = client.search_runs([client.get_experiment_by_name("ganlab").experiment_id]) \
                if client.get_experiment_by_name("ganlab") else []
            logged = [m.step for m in client.get_metric_history(runs[0].info.run_id, "loss/d")] if runs else []
            time.sleep(1.0)
        run_id = runs[0].info.run_id
        stop_group(server)  # the server goes away mid-training ...
        time.sleep(8.0)
        server = start_mlflow_server(store, port)  # ... and comes back on the same port and store
        assert driver.wait(timeout=600) == 0, driver.stderr.read()[-5000:]
    finally:
        if driver.poll() is None:
            os.kill(driver.pid, signal.SIGTERM)
        stop_group(server)
        server = start_mlflow_server(store, port)
    try:
        client = MlflowClient(tracking_uri=uri)
        history = sorted(m.step for m in client.get_metric_history(run_id, "loss/d"))
        assert history == list(range(every, steps + 1, every)), "every step once, none lost to the outage"
        assert client.get_run(run_id).info.status == "FINISHED"
    finally:
        stop_group(server)
