"""An autoscaling Ray cluster on one machine, with no cloud and no real accelerator: Ray's fake multi-node provider.

``ray start --head --autoscaling-config=<file>`` under ``RAY_FAKE_CLUSTER=1`` runs Ray's autoscaler (v1, the default)
with the ``fake_multinode`` node provider (``ray/autoscaler/_private/fake_multi_node/node_provider.py``): when demand
(tasks, placement groups, ``ray.autoscaler.sdk.request_resources``) does not fit, the autoscaler "launches" a worker
node of a declared type by starting another raylet on this machine, in the head's monitor process, with that type's
resources *declared* (``{"CPU": 1, "GPU": 1}`` gives a node that advertises one GPU; no GPU is needed or used, though a
task scheduled with ``num_gpus=1`` sees ``CUDA_VISIBLE_DEVICES=0``), and stops it again after ``idle_timeout_minutes``
without use. This is what ``ray.cluster_utils.AutoscalingCluster`` does, minus what makes it unfit here: it runs
``ray stop --force`` (which kills every Ray on the machine), binds Ray's default ports, and reads
``fake_multi_node/example.yaml``, which the Ray wheel does not ship. Autoscaler v1 reads the config file as it is (so
the file below is complete: every field ``prepare_config`` would otherwise fill from ``example.yaml``); autoscaler v2
(``RAY_enable_autoscaler_v2=1``) passes it through ``prepare_config`` and dies on the missing ``example.yaml``, so v1 is
forced.

The head gets free ports of its own (GCS, dashboard, dashboard agent, Ray client server), its own ``--temp-dir`` and
its own session (process group), and token authentication with a fresh token; the fake worker nodes join the head's
GCS by the ``gcs_address`` in the provider config (else they would look for 6379). On exit everything is killed: the
head's process group and every descendant (Ray's worker processes run in sessions of their own), and the folder
removed.

    with autoscaling_cluster({"gpu": {"resources": {"CPU": 1, "GPU": 1}, "max_workers": 1}}) as address:
        ray.init(address=address)  # the token is in os.environ while the block runs (so in subprocesses' too)
        request_resources(bundles=[{"CPU": 1, "GPU": 1}])  # a GPU node joins within a few seconds
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from pipeline.tracking.ui import free_port
from tests.integration.commands import command_env
from tests.integration.hidden_cluster import dashboard_up

START_TIMEOUT_S = 120.0
HEAD_TYPE = "ray.head.default"  # the fake provider names the head's type so, whatever the config says


def cluster_config(worker_types: dict, head_cpus: int, gcs: str, idle_timeout_minutes: float) -> dict:
    """The complete autoscaler config: ``worker_types`` maps a type's name to at least ``{"resources": {...}}``
    (``min_workers`` defaults to 0, ``max_workers`` to 1)."""
    types = {HEAD_TYPE: {"resources": {"CPU": head_cpus}, "node_config": {}, "min_workers": 0, "max_workers": 0}}
    for name, spec in worker_types.items():
        if name == HEAD_TYPE:
            raise ValueError(f"{HEAD_TYPE} is the head's type")
        types[name] = {"node_config": {}, "min_workers": 0, "max_workers": 1, **spec}
    return {
        "cluster_name": "fake-autoscaler",
        "max_workers": sum(spec["max_workers"] for spec in types.values()),
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": idle_timeout_minutes,
        "provider": {"type": "fake_multinode", "gcs_address": gcs, "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True},
        "available_node_types": types,
        "head_node_type": HEAD_TYPE,
        # What prepare_config fills in from example.yaml for other providers; autoscaler v1 reads these keys.
        "auth": {}, "docker": {}, "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [], "setup_commands": [],
        "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def _kill_all(head: subprocess.Popen) -> None:
    """SIGKILL the head's process group and every descendant, fake nodes and Ray workers (own sessions) included."""
    try:
        family = [psutil.Process(head.pid), *psutil.Process(head.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(family, timeout=10)
    head.wait(timeout=10)


def _log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@contextmanager
def _auth_env(token: str) -> Iterator[None]:
    """RAY_AUTH_MODE/RAY_AUTH_TOKEN in this process (restored afterwards), so ``ray.init`` here finds the token."""
    saved = {name: os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
    _reset_ray_auth_cache()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reset_ray_auth_cache()


def _reset_ray_auth_cache() -> None:
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # another Ray without token authentication
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextmanager
def autoscaling_cluster(worker_types: dict, head_cpus: int = 0,
                        idle_timeout_minutes: float = 1.0) -> Iterator[str]:
    """A fake autoscaling cluster: a head with ``head_cpus`` CPUs and no GPU, and worker types the autoscaler may
    start (none at first, unless a type sets ``min_workers``). Yields the GCS address (``127.0.0.1:<port>``) once the
    head is up; while the block runs, ``RAY_AUTH_MODE=token`` and the cluster's ``RAY_AUTH_TOKEN`` are in ``os.environ``
    (restored afterwards), so a driver here or in a subprocess (``command_env()``) connects with the address alone."""
    folder = Path(tempfile.mkdtemp(prefix="rfa-", dir="/tmp"))  # Ray's socket paths must stay under 108 bytes
    gcs, token, temp_dir = f"127.0.0.1:{free_port('127.0.0.1')}", secrets.token_hex(32), folder / "ray"
    dashboard = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    config = folder / "autoscaler.json"
    config.write_text(json.dumps(cluster_config(worker_types, head_cpus, gcs, idle_timeout_minutes), indent=1))
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
               f"--port={gcs.rsplit(':', 1)[1]}", "--dashboard-host=127.0.0.1",
               f"--dashboard-port={dashboard.rsplit(':', 1)[1]}",
               f"--dashboard-agent-listen-port={free_port('127.0.0.1')}",
               f"--ray-client-server-port={free_port('127.0.0.1')}",  # else Ray's default 10001
               f"--num-cpus={head_cpus}", "--num-gpus=0", "--disable-usage-stats", f"--temp-dir={temp_dir}",
               f"--autoscaling-config={config}"]
    env = {**command_env(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_FAKE_CLUSTER": "1",
           "AUTOSCALER_UPDATE_INTERVAL_S": "1", "RAY_enable_autoscaler_v2": "0"}
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    log = folder / "head.log"
    with open(log, "wb") as output:
        head = subprocess.Popen(command, env=env, start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not dashboard_up(dashboard, token):
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fake autoscaling cluster did not start:\n{_log_tail(log)}")
            time.sleep(1.0)
        with _auth_env(token):
            yield gcs
    finally:
        _kill_all(head)
        shutil.rmtree(folder, ignore_errors=True)
