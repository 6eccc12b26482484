"""A two-node Ray cluster whose nodes cannot see the driver's disk: each node runs in its own mount namespace
(``unshare --mount``, root only) where the test projects are an empty tmpfs, the repository's data and scratch
folders are hidden, and the ganlab packages are a *changed* copy (one comment line more in ``models/losses.py``),
so a node can only train with the driver's code if that code travels with the job. The storage is a folder both
namespaces see (standing for NFS); an S3-compatible server (moto) on 127.0.0.1 stands for S3.

Helpers to start, address and stop it, and to look into a node's namespace (``nsenter``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from pipeline.tracking.ui import free_port
from tests.conftest import PROJECT
from tests.integration.commands import command_env

PACKAGES = ("models", "analysis", "pipeline")
#: The node's own ganlab: the driver's packages with this line added to a file the run key hashes.
CHANGED_FILE, CHANGED_LINE = "models/losses.py", "\n# this node's ganlab is another version than the driver's\n"


@dataclass
class HiddenCluster:
    gcs: str  # 127.0.0.1:<port>: what a driver on a node joins
    dashboard: str  # http://127.0.0.1:<port>: what a machine outside the cluster submits Ray jobs to
    storage: Path  # the folder every node and the driver see
    token: str  # Ray's authentication token of this cluster
    ray_temp: Path  # Ray's session folders and logs of both nodes
    tracking: str = ""  # the MLflow server the tests give the drivers
    node_pids: list[int] = field(default_factory=list)  # the `ray start` of each node (in its namespace)
    folders: list[Path] = field(default_factory=list)  # removed by stop()

    def env(self, **variables: str) -> dict[str, str]:
        """The command environment of a driver of this cluster (its token; ``variables`` on top)."""
        return {**command_env(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token, **variables}

    def in_node(self, *command: str) -> subprocess.CompletedProcess:
        """``command`` inside the first node's mount namespace."""
        return subprocess.run(["nsenter", "-t", str(self.node_pids[0]), "-m", "--", *command], capture_output=True,
                              text=True, timeout=120)


def _changed_packages(folder: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(PROJECT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    with open(folder / CHANGED_FILE, "a") as handle:
        handle.write(CHANGED_LINE)
    return folder


def _node_script(hidden: list[Path], packages: Path, ray_start: list[str]) -> str:
    mounts = [f"mount -t tmpfs tmpfs {path}" for path in hidden if path.is_dir()]
    mounts += [f"mount --bind {packages / name} {PROJECT / name}" for name in PACKAGES]
    return " && ".join(mounts + ["exec " + " ".join(ray_start)])


def _wait(predicate, what: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1.0)
    raise AssertionError(f"the hidden cluster did not come up: {what}")


def dashboard_up(url: str, token: str) -> bool:
    request = urllib.request.Request(f"{url}/api/version", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(json.loads(response.read()))
    except OSError:
        return False


def _nodes_alive(cluster: HiddenCluster, expected: int) -> bool:
    probe = subprocess.run([sys.executable, "-c", "import ray; ray.init(address=%r, logging_level='ERROR'); "
                            "print(sum(n['Alive'] for n in ray.nodes()))" % cluster.gcs],
                           env=cluster.env(), capture_output=True, text=True, timeout=120)
    return probe.stdout.strip().endswith(str(expected))


def require_namespaces() -> None:
    """Skip (fail under ``GANLAB_REQUIRE_NAMESPACES=1``, which ``.ci/run`` sets) without root or ``unshare``."""
    import pytest

    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        message = "the hidden cluster needs root and util-linux's unshare and nsenter (mount namespaces)"
        if os.environ.get("GANLAB_REQUIRE_NAMESPACES") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _agent_port() -> str:
    return f"--dashboard-agent-listen-port={free_port('127.0.0.1')}"


def start(hidden: list[Path], node_cpus: int = 2) -> HiddenCluster:
    """A head (no CPUs: Ray's production advice) and one worker node with ``node_cpus``, both hiding ``hidden``."""
    require_namespaces()
    scratch = Path(tempfile.mkdtemp(prefix="ganlab-hidden-", dir="/tmp"))
    packages = _changed_packages(scratch / "node-ganlab")
    storage = Path(tempfile.mkdtemp(prefix="ganlab-nfs-", dir="/tmp"))
    ray_tmp = tempfile.mkdtemp(prefix="rh-", dir="/tmp")  # Ray's socket paths must stay under 108 bytes
    cluster = HiddenCluster(f"127.0.0.1:{free_port('127.0.0.1')}", f"http://127.0.0.1:{free_port('127.0.0.1')}",
                            storage, secrets.token_hex(32), Path(ray_tmp))
    cluster.folders += [scratch, storage, Path(ray_tmp)]
    hidden = [*hidden, *(PROJECT / name for name in ("data", "runs", ".ganlab"))]
    # Both nodes share this machine's ports (and other tests' Rays run beside them): each dashboard agent gets a
    # free HTTP port of its own, else the head's may lose Ray's default 52365 and the cluster takes no job.
    head = ["ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={cluster.gcs.split(':')[1]}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={cluster.dashboard.rsplit(':', 1)[1]}", "--num-cpus=0",
            "--disable-usage-stats", f"--temp-dir={ray_tmp}", _agent_port()]
    worker = ["ray", "start", "--block", f"--address={cluster.gcs}", f"--num-cpus={node_cpus}", "--disable-usage-stats",
              _agent_port()]
    try:
        _start_nodes(cluster, hidden, packages, (head, worker))
    except BaseException:
        stop(cluster)
        raise
    return cluster


def _start_nodes(cluster: HiddenCluster, hidden: list[Path], packages: Path, commands: tuple[list[str], ...]) -> None:
    for index, ray_start in enumerate(commands):
        process = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "bash", "-c",
                                    _node_script(hidden, packages, ray_start)], env=cluster.env(),
                                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cluster.node_pids.append(process.pid)
        if index == 0:
            _wait(lambda: dashboard_up(cluster.dashboard, cluster.token), "the head's dashboard")
    _wait(lambda: _nodes_alive(cluster, len(commands)), "every node alive")


def stop(cluster: HiddenCluster) -> None:
    """Stop both nodes and everything they started; remove the cluster's folders."""
    family = []
    for pid in cluster.node_pids:
        try:
            family += [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for process in family:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(family, timeout=20)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    for folder in cluster.folders:
        shutil.rmtree(folder, ignore_errors=True)
