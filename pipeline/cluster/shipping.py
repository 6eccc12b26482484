"""What every Ray process of a ganlab command gets from the driver, whichever node it runs on: the code, and the
settings and credentials of the environment (DESIGN.md, "A cluster is not one disk").

* **Code.** On a cluster, with ``ray.ship_code: true`` (default), the driver's own ``models``, ``analysis`` and
  ``pipeline`` packages travel in the job's ``runtime_env`` (``py_modules``) and every worker imports them from
  there, ahead of any ganlab installed on the node. With ``false``, and on a local instance (whose workers
  read this machine's files), the workers import the ganlab installed on their node. Either way
  :func:`verify_code` compares the digest of the training code a worker imports with the one the driver
  computed its run keys from, so a node with other code is refused, never silently used.
* **Environment.** The variables a run needs that a node started by ``ray start`` elsewhere does not have -- the
  tracking URI and storage resolved on the driver, MLflow's and the object stores' credentials (:data:`SHIPPED`)
  -- are applied at the start of every worker process by a setup hook that Ray keeps in its GCS, so they appear
  in no ``runtime_env`` that Ray logs or shows on its dashboard.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pipeline.common.digest import package_root, source_digest

#: The project's importable packages (what ``py_modules`` ships).
PACKAGES = ("models", "analysis", "pipeline")
#: Prefixes of the driver's environment variables every Ray process gets: MLflow's settings and credentials
#: (``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, ``MLFLOW_S3_ENDPOINT_URL``, ...), the
#: object stores' (``AWS_*``, ``GOOGLE_*``, ``AZURE_STORAGE_*``) and ganlab's own (``GANLAB_*``).
SHIPPED = ("MLFLOW_", "AWS_", "GOOGLE_", "GCS_", "AZURE_STORAGE_", "GANLAB_")
#: Files and folders of the packages that are not shipped.
NOT_SHIPPED = ["__pycache__", "*.pyc", "*.egg-info"]
#: Ray's variable that carries a submitted job's config (its runtime_env) into the job's driver.
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


class CodeMismatchError(RuntimeError):
    """A Ray process imports other ganlab code than the driver computed its run keys from."""


def shipped_environment(tracking_uri: str, storage: str) -> dict[str, str]:
    """The variables of :data:`SHIPPED` as this process has them, with the tracking URI and storage resolved here."""
    from pipeline.cluster.storage import STORAGE_ENV

    variables = {name: value for name, value in os.environ.items() if name.startswith(SHIPPED)}
    variables.update({"MLFLOW_TRACKING_URI": tracking_uri, STORAGE_ENV: storage})
    return variables


class EnvironmentSetup:
    """Ray's ``worker_process_setup_hook``: sets the shipped variables in a worker process before it runs anything.
    Ray pickles this object into its GCS (not into the logged ``runtime_env``, which names only ``__name__``)."""

    __name__ = "ganlab_environment"

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = dict(variables)

    def __call__(self) -> None:
        os.environ.update(self.variables)


def package_folders() -> list[str]:
    """The folders of :data:`PACKAGES` as this process imports them."""
    return [str(package_root(package) / package) for package in PACKAGES]


def job_runtime_env() -> dict[str, Any]:
    """The runtime_env of the Ray job this driver runs in (``ray job submit``), empty outside a job."""
    injected = os.environ.get(JOB_CONFIG_ENV)
    return (json.loads(injected).get("runtime_env") or {}) if injected else {}


def runtime_env(variables: dict[str, str], ship_code: bool) -> dict[str, Any]:
    """The runtime_env of the Ray job a ganlab command drives (see the module docstring).

    Inside a submitted Ray job, ``ray.init`` merges this with the job's own runtime_env and refuses a field or an
    environment variable both set: what the job already provides (its ``py_modules``, its ``env_vars``) is kept.
    """
    job = job_runtime_env()
    wanted: dict[str, Any] = {}
    if ship_code and not {"py_modules", "working_dir"} & set(job):
        wanted.update(py_modules=package_folders(), excludes=NOT_SHIPPED)
    if "worker_process_setup_hook" not in job:
        given = job.get("env_vars", {})
        wanted["worker_process_setup_hook"] = EnvironmentSetup({k: v for k, v in variables.items() if k not in given})
    return wanted


def verify_code(expected: str, paths: tuple[str, ...], where: str) -> None:
    """Refuse to train with code other than the driver's: ``expected`` is the driver's digest of ``paths``."""
    found = source_digest(paths)
    if found != expected:
        raise CodeMismatchError(
            f"{where} imports other ganlab code than the driver (training code {found[:12]} from "
            f"{package_root('pipeline')}, the driver's {expected[:12]}): set ray.ship_code: true to send the driver's "
            "code with the job, or install the driver's commit on every node")
