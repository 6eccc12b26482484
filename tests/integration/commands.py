"""Running the project's real commands (``ganlab``, ``dvc``, ``git``) from integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def command_env() -> dict[str, str]:
    """This venv on PATH, no inherited cluster or tracking server."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GANLAB_LOG_LEVEL": "INFO"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    return env


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``cmd`` in :func:`command_env`; fail the test on error."""
    result = subprocess.run(cmd, cwd=cwd, env=command_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def start_ui(cwd: Path, timeout_s: float = 120.0) -> tuple[subprocess.Popen, int, str]:
    """``ganlab ui`` on a free loopback port: the process, its port, and its stdout up to the runs-page line.

    Its stderr (MLflow's access log) goes nowhere: a pipe nobody reads would fill and stall the server.
    """
    from pipeline.tracking.ui import free_port

    port = free_port("127.0.0.1")
    process = subprocess.Popen(["ganlab", "ui", "--port", str(port)], cwd=cwd, env=command_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline, printed = time.monotonic() + timeout_s, ""
    while "ganlab runs" not in printed and time.monotonic() < deadline and process.poll() is None:
        printed += process.stdout.readline()
    return process, port, printed


def start_mlflow_server(store: Path, port: int) -> subprocess.Popen:
    """A real ``mlflow server`` on 127.0.0.1:``port`` (its own process group), sqlite store ``store`` and artifacts
    served by it (``--artifacts-destination`` beside the store), once it answers ``/health``."""
    from pipeline.tracking.ui import stop_group

    process = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{store}",
                                "--artifacts-destination", (store.parent / "artifacts").as_uri(), "--host", "127.0.0.1",
                                "--port", str(port), "--workers", "1"],
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    stop_group(process)
    raise AssertionError("mlflow server did not start")
