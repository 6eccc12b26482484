"""A real cluster is not one disk: trainings on nodes that cannot see the driver's disk (:mod:`hidden_cluster`)
leave, on the driver, the same files and metric values as the same trainings run locally -- with the storage a
shared folder or an S3 bucket, driven from a cluster node or from a laptop through Ray Jobs -- with every run
and metric row in the MLflow server whose URI only the driver's environment holds. Node-local storage, a sqlite
store and a node with other code are refused before any compute; a run or a trial that fails on the remote node
fails the command with its own message."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from pipeline.tracking.ui import free_port, stop_group
from tests.conftest import tiny_config
from tests.integration import hidden_cluster
from tests.integration.commands import command_env, run, start_mlflow_server

pytestmark = pytest.mark.slow

RUNS = (("ring8", "hinge", 0), ("digits", "hinge", 0))
#: What differs between two trainings of the same run besides their numbers: ids, clocks and places.
NOT_COMPARED = {"run_id", "wall_time_s", "steps_per_s", "workers"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The hidden cluster (the test folders hidden from its nodes) and an MLflow server on 127.0.0.1."""
    started = hidden_cluster.start(hidden=[tmp_path_factory.getbasetemp()])
    server_folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port("127.0.0.1")
    server = start_mlflow_server(server_folder / "mlflow.db", port)
    started.tracking = f"http://127.0.0.1:{port}"
    try:
        yield started
    finally:
        stop_group(server)
        hidden_cluster.stop(started)


def _on_cluster(cluster, project: Path, address: str | None = None, **variables: str) -> dict[str, str]:
    """A driver's environment: the cluster's address, the project's own folder of the shared storage (one prefix
    per project, as the README advises) and the tracking server."""
    return cluster.env(**{"RAY_ADDRESS": address or cluster.gcs, "GANLAB_STORAGE": str(_storage(cluster, project)),
                          "MLFLOW_TRACKING_URI": cluster.tracking, **variables})


def _storage(cluster, project: Path) -> Path:
    return cluster.storage / project.parent.name


def _project(folder: Path, runs=RUNS, **sections) -> Path:
    """A project whose benchmark is ``runs`` (datasets × one variant × seed 0), its datasets prepared."""
    folder.mkdir(parents=True)
    datasets = [dataset for dataset, _, _ in runs]
    params = tiny_config(benchmark={"datasets": datasets, "variants": ["hinge"], "seeds": [0]},
                         train={"steps": 20, "log_every": 5, "eval_every": 10, "checkpoint_every": 10,
                                "eval_samples": 200}, **sections).to_dict()
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    for dataset in datasets:
        run(["ganlab", "prepare", "--dataset", dataset], folder)
    return folder


def _ganlab(project: Path, env: dict[str, str], command: str = "train", *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ganlab", command, *options], cwd=project, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def local_reference(cluster, tmp_path_factory) -> Path:
    """The same trainings on a local Ray instance and the project's sqlite store -- started while the hidden
    cluster runs on this machine, which a command without ``RAY_ADDRESS`` must not join."""
    project = _project(tmp_path_factory.mktemp("local") / "project")
    result = _ganlab(project, command_env())
    assert result.returncode == 0, result.stderr[-3000:]
    return project


def _same_outputs(project: Path, reference: Path, runs=RUNS) -> None:
    for dataset, variant, seed in runs:
        folder, expected = (p / "runs" / dataset / variant / f"seed{seed}" for p in (project, reference))
        assert sorted(f.relative_to(folder) for f in folder.rglob("*")) == \
               sorted(f.relative_to(expected) for f in expected.rglob("*")), "the same files"
        ours, theirs = (torch.load(f / "model" / "state.pt", weights_only=True)["model"] for f in (folder, expected))
        for net in ("generator", "discriminator"):
            for key, value in theirs[net].items():
                assert torch.equal(ours[net][key], value), f"{dataset}/{variant}: {net}.{key}"
        history = [pd.read_csv(f / "history.csv").drop(columns=["steps_per_s"]) for f in (folder, expected)]
        pd.testing.assert_frame_equal(*history)
        summaries = [json.loads((p / "metrics/train" / dataset / variant / f"seed{seed}.json").read_text())
                     for p in (project, reference)]
        assert {k: v for k, v in summaries[0].items() if k not in NOT_COMPARED} == \
               {k: v for k, v in summaries[1].items() if k not in NOT_COMPARED}
        assert (folder / "samples.png").read_bytes() == (expected / "samples.png").read_bytes()


def _tracked(cluster, runs=RUNS) -> None:
    """Every run FINISHED in the server, each metric step once, its files among its artifacts."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(cluster.tracking)
    experiment = client.get_experiment_by_name("ganlab").experiment_id
    owners = set()
    for dataset, variant, seed in runs:
        (found,) = client.search_runs([experiment], f"tags.stage = 'train' and attributes.run_name = "
                                                    f"'{dataset}-{variant}-seed{seed}'", order_by=["start_time DESC"],
                                      max_results=1)
        assert found.info.status == "FINISHED"
        assert sorted(m.step for m in client.get_metric_history(found.info.run_id, "loss/d")) == [5, 10, 15, 20]
        assert {"samples.png", "history.csv", "train_summary.json"} <= {a.path for a in
                                                                        client.list_artifacts(found.info.run_id)}
        owners.add(found.data.tags["ganlab.driver_pid"])
    assert len(owners) == 1, "each run names the one command that drove it, not the trial process that trained it"


def _error_line(result: subprocess.CompletedProcess, refused: bool = True) -> str:
    """The one ``ganlab: error:`` line, the last one printed; a refusal before compute prints no traceback (a run
    that failed remotely may: Ray Tune logs the trial's own traceback as it happens)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("ganlab: error:")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == lines[0], result.stderr[-3000:]
    assert not refused or "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def test_runs_on_a_node_without_the_drivers_disk_leave_what_a_local_run_leaves(cluster, local_reference, tmp_path,
                                                                             tmp_path_factory):
    project = _project(tmp_path / "project")
    started = cluster.storage / "started"  # a file the node sees, older than what the training writes
    started.touch()
    result = _ganlab(project, _on_cluster(cluster, project))
    assert result.returncode == 0, result.stderr[-5000:]
    _same_outputs(project, local_reference)
    _tracked(cluster)
    scratch = sorted(path.name for path in (project / ".ganlab").iterdir())
    assert not (project / "mlflow.db").exists() and scratch == ["command.lock"], \
        f"nothing on the driver's disk but the project lock: {scratch}"
    # /tmp and this session's hidden temporary folder, not the stores of tests running beside this one (pytest -n)
    ours = tmp_path_factory.getbasetemp()
    others = ("(", "-path", "/tmp/pytest-of-*", "!", "-path", f"{ours}*", "-prune", ")")
    stray = cluster.in_node("find", "/tmp", str(ours), *others, "-o", "(", "-newer", str(started), "(", "-name",
                            "mlflow.db", "-o", "-name", "mlruns", ")", "-print", ")")
    found = [line for line in stray.stdout.splitlines() if "mlflow-server" not in line]
    assert stray.returncode == 0 and found == [], f"no stray tracking store on the node: {found}"
    assert cluster.in_node("ls", str(project)).returncode != 0, "the node cannot see the driver's project"
    started.unlink()
    storage = _storage(cluster, project)
    assert not any(storage.glob("outputs/*")) and not any(storage.glob("ray/*/checkpoint_*")), \
        "collected outputs and finished runs' checkpoints leave the storage"


def test_an_s3_bucket_as_storage(cluster, local_reference, tmp_path):
    import pyarrow.fs

    port = free_port("127.0.0.1")
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        credentials = {"AWS_ACCESS_KEY_ID": "ganlab-test", "AWS_SECRET_ACCESS_KEY": "ganlab-test-secret",
                       "AWS_DEFAULT_REGION": "us-east-1"}
        uri = f"s3://ganlab-test/storage?endpoint_override=127.0.0.1:{port}&scheme=http"
        bucket = pyarrow.fs.S3FileSystem(access_key="ganlab-test", secret_key="ganlab-test-secret", scheme="http",
                                         endpoint_override=f"127.0.0.1:{port}", region="us-east-1",
                                         allow_bucket_creation=True)
        deadline = time.monotonic() + 60
        while not _created(bucket, "ganlab-test"):
            assert time.monotonic() < deadline, "moto did not start"
            time.sleep(1.0)
        runs = RUNS[:1]
        project = _project(tmp_path / "project", runs)
        token = "ganlab-test-tracking-token"  # MLflow's bearer token: the server ignores it, ganlab must not log it
        env = _on_cluster(cluster, project, GANLAB_STORAGE=uri, MLFLOW_TRACKING_TOKEN=token, **credentials)
        result = _ganlab(project, env)
        assert result.returncode == 0, result.stderr[-5000:]
        _same_outputs(project, local_reference, runs)
        assert not bucket.get_file_info(pyarrow.fs.FileSelector("ganlab-test/storage/outputs", allow_not_found=True)), \
            "the run's files went through the bucket and were collected"
        assert token not in result.stderr + result.stdout and "ganlab-test-secret" not in result.stderr + result.stdout
        logs = cluster.in_node("grep", "-rl", token, str(cluster.ray_temp))
        assert logs.stdout.strip() == "", f"the shipped credentials are in no Ray log or runtime_env record: {logs.stdout}"
    finally:
        stop_group(moto)


def _created(bucket, name: str) -> bool:
    try:
        bucket.create_dir(name)
        return True
    except OSError:
        return False


@pytest.mark.parametrize("setting, expected", [
    ({}, "ray.storage"),
    ({"GANLAB_STORAGE": "shared"}, "mlflow server"),
    ({"GANLAB_STORAGE": "shared", "MLFLOW_TRACKING_URI": "server", "ship": "false"}, "imports other ganlab code"),
])
def test_what_the_cluster_cannot_use_is_refused_before_any_compute(cluster, tmp_path, setting, expected):
    variables = {"RAY_ADDRESS": cluster.gcs}
    if "GANLAB_STORAGE" in setting:
        variables["GANLAB_STORAGE"] = str(cluster.storage)
    if "MLFLOW_TRACKING_URI" in setting:
        variables["MLFLOW_TRACKING_URI"] = cluster.tracking
    runs = RUNS[:1]
    project = _project(tmp_path / "project", runs, ray={"ship_code": setting.get("ship") != "false"})
    line = _error_line(_ganlab(project, cluster.env(**variables)))
    assert expected in line and line.count("node ") >= 2, f"both nodes named: {line}"
    assert not (project / "runs").exists(), "nothing was trained"


def test_a_run_that_fails_on_the_remote_node_fails_the_stage_with_its_own_message(cluster, tmp_path):
    """The driver joins with ``--address`` (no ``RAY_ADDRESS``): the flag alone reaches the cluster."""
    project = _project(tmp_path / "project", ray={"fail_at_step": 15, "fail_mode": "raise",
                                                  "fail_runs": ["ring8-hinge-seed0"]})
    env = _on_cluster(cluster, project)
    del env["RAY_ADDRESS"]
    result = _ganlab(project, env, "train", "--address", cluster.gcs)
    assert f"joining the Ray cluster at {cluster.gcs}" in result.stdout + result.stderr, result.stderr[-3000:]
    line = _error_line(result, refused=False)
    assert "1 of 2 run(s) failed: ring8-hinge-seed0 (" in line and "fault injected at step 15" in line, line
    assert (project / "runs/digits/hinge/seed0/train_summary.json").is_file(), "the other run is kept"
    assert not (project / "metrics/train/ring8/hinge/seed0.json").exists(), "no summary for the failed run"


#: A sweep of two trials on ring8.
SWEEP = {"dataset": "ring8", "variants": ["hinge"], "search": "grid", "scheduler": "fifo", "steps": 20, "eval_every": 10,
         "eval_samples": 200, "stop_after_step": 1000, "space": {"lr_g": ["choice", [1.0e-4, 2.0e-4]]}}


def test_a_sweep_that_loses_trials_on_the_remote_node_says_so(cluster, tmp_path):
    project = _project(tmp_path / "project", RUNS[:1], ray={"fail_at_step": 15, "fail_mode": "raise"},
                       tune={**SWEEP, "max_failures": 0})
    line = _error_line(_ganlab(project, _on_cluster(cluster, project), "tune"), refused=False)
    assert "2 of 2 trial(s) of the sweep failed" in line and "fault injected at step 15" in line, line
    trials = pd.read_csv(project / "tune/trials.csv")
    assert (trials["stop_reason"] == "error").all() and trials["error"].str.contains("fault injected").all()
    assert (project / "tune/summary.json").is_file(), "what the trials measured before failing is written"


def test_a_laptop_drives_the_cluster_through_ray_jobs(cluster, local_reference, tmp_path):
    """Trainings and a sweep from a machine that is no node: Ray jobs submitted to the dashboard's address."""
    from mlflow.tracking import MlflowClient

    project = _project(tmp_path / "project", tune=SWEEP)
    env = _on_cluster(cluster, project, cluster.dashboard)
    result = _ganlab(project, env)
    assert result.returncode == 0, result.stderr[-5000:]
    assert "submitted Ray job ganlab-train-" in result.stderr and "joining the Ray cluster" in result.stderr
    _same_outputs(project, local_reference)
    _tracked(cluster)
    assert not any(_storage(cluster, project).glob("jobs/*")), "the submission's folder is removed"
    again = _ganlab(project, env)
    assert again.returncode == 0 and "2 kept (unchanged), 0 to train" in again.stderr, again.stderr[-3000:]
    sweep = _ganlab(project, env, "tune")
    assert sweep.returncode == 0 and "submitted Ray job ganlab-tune-" in sweep.stderr, sweep.stderr[-5000:]
    trials = pd.read_csv(project / "tune/trials.csv")
    assert len(trials) == 2 and (trials["stop_reason"] == "completed").all()
    parent = json.loads((project / "tune/summary.json").read_text())["parent_run_id"]
    assert MlflowClient(cluster.tracking).get_run(parent).info.status == "FINISHED"
