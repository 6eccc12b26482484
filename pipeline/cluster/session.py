"""Starting or joining Ray: one code path for a laptop and a cluster.

``ray.address`` in params, else ``RAY_ADDRESS``, joins an existing cluster; neither starts a local
instance sized to this machine, which

* listens on 127.0.0.1 only: Ray binds its servers to the node's IP address and turns a loopback
  address into the machine's reachable one, unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's own
  switch for single-machine use) is set before Ray is imported -- :func:`prefer_loopback` sets it, and
  ``ganlab`` calls it before any command imports Ray;
* keeps Ray's token authentication on (Ray's default for a new local instance; the token in
  ``~/.ray/auth_token``);
* leaves no process behind, however the command ends: a watchdog (:mod:`pipeline.cluster.watchdog`)
  outlives a ``kill -9`` of the driver and stops every Ray process the session started.

An address ``http://head:8265`` is a Ray Jobs address: the commands that train submit themselves there
(:mod:`pipeline.cluster.jobs`) instead of joining.

:func:`cluster_session` is the session a training command opens: every Ray process gets the driver's code and
environment (:mod:`pipeline.cluster.shipping`) and, on a cluster, every node is checked before any compute
(:mod:`pipeline.cluster.probe`). Before any compute, too, the resources a run asks for are checked against what
the instance has: on a local instance a request larger than the machine is an error at once; on a cluster the
request waits for ``ray.resource_timeout_s`` (the autoscaler may add nodes), then fails naming what is missing.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from pipeline.cluster.probe import check_cluster
from pipeline.cluster.shipping import runtime_env, shipped_environment, verify_code
from pipeline.cluster.storage import StoragePath, storage_location, storage_root
from pipeline.cluster.watchdog import Watchdog
from pipeline.common.digest import source_digest
from pipeline.common.ports import free_port
from pipeline.config import RayConfig

log = logging.getLogger("ganlab.ray")
LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: Set while ganlab runs a local instance it started (inherited by Ray's workers and Tune's trials).
LOCAL_MARKER = "GANLAB_LOCAL_RAY"
#: Ray Tune's switch for its console reporter; "0" with ``verbose=0`` prints nothing.
TUNE_OUTPUT_SWITCH = "RAY_AIR_NEW_OUTPUT"
#: Ray Tune's loggers that print tracebacks ganlab reports in one line: a failed trial's (the trial loop), and a
#: failed save of the experiment state (a full or unreachable storage; ganlab names the full disk).
TUNE_TRACEBACK_LOGGERS = ("ray.tune.execution.tune_controller", "ray.tune.execution.experiment_state")
#: Ray Train settings for a local instance (inherited by every Ray process it starts; a cluster keeps its own).
#: A laptop cannot be pre-empted (the watcher only adds a process and an error line); nothing scrapes Ray Train's
#: Prometheus metrics there; and the controller notices a finished worker group within 0.5 s instead of 2 s.
#: Measured here on 6 twenty-step runs, two at a time: 72 s → 60 s (health check) → 53 s (metrics off).
LOCAL_TRAIN_SETTINGS = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0", "RAY_TRAIN_METRICS_ENABLED": "0",
                        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5"}
#: Ray's variable for the GCS port of a new head node (what ``ray.init(address="local")`` starts).
GCS_PORT_VARIABLE = "RAY_GCS_SERVER_PORT"
#: How long a cluster to join may take to answer before the command fails (Ray itself retries for minutes).
REACH_TIMEOUT_S = 20.0


class ResourceError(RuntimeError):
    """A run asks for more CPUs or GPUs than the Ray instance has (or gets within the timeout)."""


class ClusterUnreachable(RuntimeError):
    """Nothing answers at the address of the cluster to join."""


def check_cluster_reachable(address: str, source: str, timeout_s: float | None = None) -> None:
    """Fail within ``timeout_s`` (default :data:`REACH_TIMEOUT_S`) when nothing accepts a connection at ``address``
    (``host:port``; ``auto`` and ``ray://`` addresses are left to Ray): ``ray.init`` would retry for minutes,
    printing only C++ warnings."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return
    timeout_s = REACH_TIMEOUT_S if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=min(5.0, timeout_s)):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise ClusterUnreachable(
                    f"no Ray cluster answers at {address} ({source}; {err.strerror or err} for {timeout_s:.0f} s): "
                    f"start the cluster's head there (`ray start --head`), correct the address, or drop {source} "
                    "to run on a local Ray instance") from None
            time.sleep(1.0)


def _address_source(config: RayConfig) -> str:
    return "ray.address in params" if config.address else "the environment variable RAY_ADDRESS"


def cluster_address(config: RayConfig) -> str | None:
    """The cluster to join: ``ray.address``, else ``RAY_ADDRESS``; None starts a local instance."""
    return config.address or os.environ.get("RAY_ADDRESS") or None


def jobs_address(config: RayConfig) -> str | None:
    """The Ray Jobs (dashboard) address a command is submitted to from outside the cluster (``http://head:8265``),
    or None when it joins a cluster or starts a local instance itself."""
    address = cluster_address(config)
    return address if address and address.startswith(("http://", "https://")) else None


def prefer_loopback(config: RayConfig) -> None:
    """For a local instance: make Ray bind to 127.0.0.1. Ray reads the switch when it is imported, so this only
    acts before the first ``import ray`` of the process (``ganlab`` calls it first thing); a process that imported
    Ray already keeps Ray's default (the machine's address), with token authentication."""
    if cluster_address(config) is None and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_SWITCH, "0")


@dataclass(frozen=True)
class ClusterContext:
    """What every Ray process of a command needs from its driver (sent with the work, never read from its disk)."""

    storage: StoragePath
    tracking_uri: str
    code: Mapping[str, tuple[str, ...]]  # family → the source files its runs' keys hash
    digests: Mapping[str, str]  # family → the driver's digest of them: a worker must import the same code

    def check_code(self, family: str, where: str) -> None:
        """Refuse (:class:`pipeline.cluster.shipping.CodeMismatchError`) to run ``family`` with other code than the
        driver's: what a worker calls first."""
        verify_code(self.digests[family], self.code[family], where)


@contextmanager
def cluster_session(config: RayConfig, tracking_uri: str,
                    code: Mapping[str, tuple[str, ...]]) -> Iterator[ClusterContext]:
    """A Ray session whose processes get the driver's code and environment (:mod:`.shipping`), checked before any
    compute on a cluster (:mod:`.probe`): every node sees the storage, can write the tracking store and runs
    the driver's code -- ``code``: each family of the session's runs → the source files its run keys hash
    (:func:`pipeline.common.family_code.run_code`); the nodes are checked on all of them together."""
    location = storage_location(config.storage)
    context = ClusterContext(storage_root(config.storage), tracking_uri, dict(code),
                             {family: source_digest(paths) for family, paths in code.items()})
    every_file = tuple(sorted(set().union(*code.values())))
    # A local instance's workers import this machine's own files: shipping them would cost every worker process its
    # runtime-env setup (8-9 % of a 4-run stage here, benchmarks/cluster_overhead.py) and prove nothing.
    ship = config.ship_code and cluster_address(config) is not None
    with ray_session(config, runtime_env(shipped_environment(tracking_uri, location), ship)):
        if not local_instance():
            check_cluster(context.storage, tracking_uri, source_digest(every_file), every_file,
                          config.resource_timeout_s)
        yield context


@contextmanager
def ray_session(config: RayConfig, environment: dict[str, Any] | None = None) -> Iterator[None]:
    """``ray.init`` with ``environment`` as the job's runtime_env, unless Ray is already initialised (then the
    caller's session is reused as it is)."""
    prefer_loopback(config)
    import ray

    if ray.is_initialized():
        yield
        return
    address = cluster_address(config)
    if jobs_address(config):
        raise ResourceError(f"ray.address {address} is a Ray Jobs (dashboard) address: only `ganlab train`, `tune` "
                            "and `study` submit themselves to it; give the cluster's GCS address (host:6379) to join it")
    # Ray's own loggers in every process: errors only, so worker progress lines stay readable.
    quiet = {"logging_level": logging.ERROR, "logging_config": ray.LoggingConfig(log_level="ERROR"),
             "log_to_driver": True, "runtime_env": environment or None}
    previous = {name: os.environ.get(name) for name in ("RAY_ADDRESS", GCS_PORT_VARIABLE)}
    if address:
        check_cluster_reachable(address, _address_source(config))
        log.info("joining the Ray cluster at %s", address)
        ray.init(address=address, **quiet)
        watchdog = None
    else:
        for name, value in LOCAL_TRAIN_SETTINGS.items():
            os.environ.setdefault(name, value)
        os.environ[LOCAL_MARKER] = "1"
        watchdog = Watchdog.start()
        # Ray's helpers that find "their" instance without an address (Ray Train's placement-group cleaner) fail
        # when another Ray runs on the machine: every process of ours inherits our GCS address, chosen here.
        host = ray.util.get_node_ip_address()
        os.environ[GCS_PORT_VARIABLE] = previous[GCS_PORT_VARIABLE] or str(free_port(host))
        os.environ["RAY_ADDRESS"] = f"{host}:{os.environ[GCS_PORT_VARIABLE]}"
        # "local": a new instance of our own, even when another Ray runs on the machine (``ray.init()`` would
        # join the one started last by ``ray start``).
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
    # Ray Train in this process looks clusters up by "auto", which fails when another Ray runs here: name ours.
    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    try:
        yield
    finally:
        ray.shutdown()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if watchdog is not None:
            os.environ.pop(LOCAL_MARKER, None)
            watchdog.stop()


@contextmanager
def tune_console_off() -> Iterator[None]:
    """Ray Tune's console reporter (trial tables, config boxes, result paths) off while a Tuner runs: ganlab's
    own progress callbacks say what happens. Tune reads the switch when ``fit`` starts; with ``verbose=0`` in the
    run config nothing of its reporter is printed. Its tracebacks of a failed trial and of a failed save of its
    state are off too: ganlab reports each failed run or trial in one line with its cause, and a full disk by name
    (Tune keeps a trial's traceback in its ``error.txt``)."""
    previous = os.environ.get(TUNE_OUTPUT_SWITCH)
    os.environ[TUNE_OUTPUT_SWITCH] = "0"
    loggers = [logging.getLogger(name) for name in TUNE_TRACEBACK_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if previous is None:
            os.environ.pop(TUNE_OUTPUT_SWITCH, None)
        else:
            os.environ[TUNE_OUTPUT_SWITCH] = previous


def local_instance() -> bool:
    """Whether this process runs in a local Ray instance that ganlab started (else: a cluster it joined)."""
    return os.environ.get(LOCAL_MARKER) == "1"
