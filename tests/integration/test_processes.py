"""Processes and ports, tried for real: what a `ganlab train` listens on, that a client without the session's
token is refused, that nothing it started survives a `kill -9`, `ganlab ui` stopping its server group on SIGTERM
and SIGHUP, runs left RUNNING by a killed driver, resources a local Ray cannot hold."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import tiny_config
from tests.integration.commands import command_env, start_ui

pytestmark = pytest.mark.slow

LOOPBACK = ("127.0.0.1", "::ffff:127.0.0.1", "::1")


def _params(project: Path, **train) -> None:
    params = tiny_config(train={"steps": 100000, "log_every": 50, "eval_every": 10000, "checkpoint_every": 10000,
                                **train}, ray={"cpus_per_worker": 1}).to_dict()
    (project / "params.yaml").write_text(yaml.safe_dump(params))


def _start_training(project: Path) -> subprocess.Popen:
    return subprocess.Popen(["ganlab", "train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"], cwd=project,
                            env=command_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_worker(driver: subprocess.Popen, timeout_s: float = 240.0) -> list[psutil.Process]:
    """The driver's descendants once a Ray Train worker runs (the training has started)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert driver.poll() is None, driver.stderr.read()
        family = psutil.Process(driver.pid).children(recursive=True)
        names = []
        for process in family:
            try:
                names.append(process.name())
            except psutil.NoSuchProcess:
                continue
        if any("RayTrainWorker" in name for name in names):
            return family
        time.sleep(1.0)
    raise AssertionError("no Ray Train worker started")


def _external_address() -> str | None:
    """This machine's address on its default route (None without one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent by a UDP connect
            return probe.getsockname()[0]
        except OSError:
            return None


def _listening(processes: list[psutil.Process]) -> list[tuple[str, str, int]]:
    pids = {process.pid: process for process in processes}
    found = []
    for connection in psutil.net_connections(kind="inet"):
        if connection.status == psutil.CONN_LISTEN and connection.pid in pids:
            try:
                found.append((pids[connection.pid].name(), connection.laddr.ip, connection.laddr.port))
            except psutil.NoSuchProcess:
                continue
    return found


def _serves_itself(process: psutil.Process) -> bool:
    """Whether the process holds a connection to one of its own listening ports: torch.distributed's rendezvous
    store, whose server and first client live in worker 0 (so the process group is set up)."""
    try:
        connections = process.net_connections(kind="inet")
    except psutil.NoSuchProcess:
        return False
    listening = {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}
    return any(c.raddr and c.raddr.port in listening for c in connections if c.status == psutil.CONN_ESTABLISHED)


def _listening_once_the_store_serves(driver: subprocess.Popen, timeout_s: float = 120.0) -> list[tuple[str, str, int]]:
    """Every listening socket of the driver and its descendants, sampled until the Ray Train worker's rendezvous
    store serves (a socket opened later than the worker itself, so one look when the worker appears can miss it)."""
    deadline = time.monotonic() + timeout_s
    seen: set[tuple[str, str, int]] = set()
    while time.monotonic() < deadline:
        assert driver.poll() is None, driver.stderr.read()
        family = psutil.Process(driver.pid).children(recursive=True) + [psutil.Process(driver.pid)]
        seen |= set(_listening(family))
        workers = [p for p in family if "RayTrainWorker" in _name(p)]
        if any(_serves_itself(worker) for worker in workers):
            return sorted(seen | set(_listening(family)))
        time.sleep(0.5)
    raise AssertionError(f"no rendezvous store seen in the Ray Train worker; listening: {sorted(seen)}")


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.NoSuchProcess:
        return ""


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {process.name()}")
        except psutil.NoSuchProcess:
            continue
    return alive


def _gone_within(processes: list[psutil.Process], seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.5)
    return _alive(processes)


def test_a_training_listens_on_loopback_only_and_leaves_nothing_after_kill_9(prepared, in_tmp):
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.store import resolve_tracking_uri

    _params(in_tmp)
    driver = _start_training(in_tmp)
    _wait_for_worker(driver)
    sockets = _listening_once_the_store_serves(driver)
    assert sockets and all(ip in LOOPBACK for _, ip, _ in sockets), sockets
    gcs_port = next(port for name, _, port in sockets if name == "gcs_server")
    external = _external_address()
    if external is not None:
        with socket.socket() as probe:
            assert probe.connect_ex((external, gcs_port)) != 0, f"the GCS answers on {external}"
    client = subprocess.Popen([sys.executable, "-c", f"import ray; ray.init(address='127.0.0.1:{gcs_port}'); print('JOINED')"],
                              env={**{k: v for k, v in command_env().items() if not k.startswith("RAY_AUTH")},
                                   "HOME": str(in_tmp), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:  # Ray's client retries the refused handshake for a while; its first refusals are enough
        joined, refusals = client.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        client.kill()
        joined, refusals = client.communicate()
    assert "JOINED" not in joined and "InvalidAuthToken" in refusals, refusals[-2000:]

    everything = psutil.Process(driver.pid).children(recursive=True)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    assert _gone_within(everything, 15.0) == [], "processes `ganlab train` started outlived its kill -9"

    client = MlflowClient(resolve_tracking_uri(tiny_config()))
    (run,) = client.search_runs([client.get_experiment_by_name("ganlab").experiment_id])
    assert run.info.status == "RUNNING", "a killed driver cannot close its run"
    listed = subprocess.run(["ganlab", "evaluate", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"],
                            cwd=in_tmp, env=command_env(), capture_output=True, text=True)
    assert listed.returncode == 2  # nothing trained yet; but the command looked at the store first
    closed = client.get_run(run.info.run_id)
    assert closed.info.status == "KILLED" and "ended without closing the run" in closed.data.tags["ganlab.end_reason"]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_ganlab_ui_stops_its_server_group_on_sigterm_and_sighup(tmp_path, stop):
    from tests.conftest import PROJECT

    (tmp_path / "params.yaml").write_text((PROJECT / "params.yaml").read_text())
    process, port, printed = start_ui(tmp_path)
    assert "ganlab runs" in printed, printed
    family = psutil.Process(process.pid).children(recursive=True)
    assert any("mlflow" in " ".join(p.cmdline()) for p in family)
    process.send_signal(stop)
    assert process.wait(timeout=60) == 0
    assert _gone_within(family, 15.0) == [], f"the MLflow server outlived {stop.name}"


def test_more_workers_than_this_machine_has_fail_before_any_compute(prepared, in_tmp):
    params = tiny_config(ray={"num_workers": 1000, "cpus_per_worker": 1}).to_dict()
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    started = time.monotonic()
    result = subprocess.run(["ganlab", "train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"], cwd=in_tmp,
                            env=command_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    line = [line for line in result.stderr.splitlines() if line.startswith("ganlab: error:")]
    assert line and "1000 CPU (the cluster has" in line[0] and "not available on this machine" in line[0], result.stderr
    assert "Traceback" not in result.stderr and time.monotonic() - started < 120


def test_a_local_command_starts_its_own_ray_whatever_ray_start_left_behind(prepared, in_tmp):
    """``ray start`` leaves its address in ``<tmp>/ray/ray_current_cluster`` (kept after a crash), and a bare
    ``ray.init()`` joins it: a command without ``ray.address`` or ``RAY_ADDRESS`` must start its own instance."""
    params = tiny_config(ray={"num_workers": 1000, "cpus_per_worker": 1}).to_dict()
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    with tempfile.TemporaryDirectory(prefix="r", dir="/tmp") as short:  # Ray's socket paths must stay short
        (Path(short) / "ray").mkdir()
        (Path(short) / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
        result = subprocess.run(["ganlab", "train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"],
                                cwd=in_tmp, env={**command_env(), "RAY_TMPDIR": short}, capture_output=True,
                                text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "not available on this machine" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_training_beside_another_local_ray_prints_no_traceback(prepared, in_tmp):
    """Another project's Ray on the machine: Ray's helpers that look "their" instance up without an address (Ray
    Train's placement-group cleaner) must find ours, not fail with "Found multiple active Ray instances"."""
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(tiny_config(ray={"cpus_per_worker": 1}).to_dict()))
    other = subprocess.Popen([sys.executable, "-c", "import ray, sys; ray.init(address='local', num_cpus=1, "
                              "include_dashboard=False); print('up', flush=True); sys.stdin.read()"],
                             env=command_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert other.stdout.readline().strip() == "up"
        result = subprocess.run(["ganlab", "train", "--dataset", "ring8", "--variant", "hinge", "--seed", "0"],
                                cwd=in_tmp, env=command_env(), capture_output=True, text=True, timeout=600)
    finally:
        other.stdin.close()
        other.wait(timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    for text in ("Found multiple active Ray instances", "Traceback", "PlacementGroupCleaner"):
        assert text not in result.stderr, result.stderr[-3000:]
