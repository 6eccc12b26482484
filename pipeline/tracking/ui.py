"""``ganlab ui``: the MLflow UI on the project's tracking store, bound to 127.0.0.1 unless told otherwise.

``mlflow ui`` runs in its own process group (it spawns worker processes
that would outlive a kill of the parent); the group is stopped on Ctrl-C,
SIGTERM (``timeout``, a service manager), SIGHUP (a closed terminal) or when
``ganlab ui`` exits for any other reason.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from pipeline.common.ports import free_port
from pipeline.common.signals import stop_on_signals
from pipeline.config import Config
from pipeline.tracking.store import TrackingError, client_for, close_orphaned_runs, experiment_id, resolve_tracking_uri

log = logging.getLogger("ganlab.ui")
START_TIMEOUT_S = 120.0


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another program (or another ``ganlab ui``) listens on: ``mlflow ui`` would not say so, and a
    check of its address would find the other server answering."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise TrackingError(f"--port {port} on {host} is not free ({err.strerror}; another program or another "
                                "`ganlab ui` holds it): choose another with --port, or leave --port out for a free "
                                "one") from None


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TrackingError(f"mlflow ui exited with status {process.returncode} before serving {url} (its own "
                                "lines above say why); a port taken since: run `ganlab ui` again without --port")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise TrackingError(f"mlflow ui did not answer at {url} within {START_TIMEOUT_S:.0f}s")


def stop_group(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after ``grace_s``."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def runs_page(base_url: str, experiment: str) -> str:
    """The experiment's runs table in MLflow 3's UI (its model-training view, not the GenAI one)."""
    return f"{base_url}/#/experiments/{experiment}/runs?workflowType=machine_learning"


def compare_page(base_url: str, experiment: str, run_ids: list[str]) -> str:
    """MLflow's side-by-side comparison of ``run_ids`` (params, metrics and tags in rows)."""
    runs = ",".join(f'"{run_id}"' for run_id in run_ids)
    return f"{base_url}/#/compare-runs?runs=[{runs}]&experiments=[\"{experiment}\"]"


def serve(config: Config, host: str = "127.0.0.1", port: int | None = None) -> int:
    """Serve the UI until interrupted; returns the exit status of ``mlflow ui`` (0 after Ctrl-C)."""
    if port is not None:
        check_port_free(host, port)
    uri = resolve_tracking_uri(config)
    client = client_for(uri)
    experiment = experiment_id(client, config.mlflow.experiment)
    close_orphaned_runs(client, config.mlflow.experiment)
    if uri.startswith(("http://", "https://")):
        print(f"the tracking store is already a server: open {runs_page(uri.rstrip('/'), experiment)}")
        return 0
    port = port or free_port(host)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    if host not in ("127.0.0.1", "localhost"):
        log.warning("serving the MLflow UI on %s: reachable from other machines, without authentication", host)
    stop_on_signals()  # the group stops on SIGTERM and SIGHUP as on Ctrl-C
    process = subprocess.Popen(command, start_new_session=True)
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
    try:
        _wait_until_up(url, process)
        print(f"MLflow UI for {uri}: {url}  (Ctrl-C stops it)\n"
              f"ganlab runs ({config.mlflow.experiment}): {runs_page(url, experiment)}", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_group(process)
