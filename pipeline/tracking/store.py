"""MLflow tracking: one run per training, stable metric names, batched logging.

Default store: ``sqlite:///<project>/mlflow.db`` with artifacts in
``<project>/mlartifacts``; ``mlflow.tracking_uri`` in params, else the
``MLFLOW_TRACKING_URI`` environment variable, overrides it. Metrics are sent
with ``log_batch`` every ``train.log_every`` steps: a single ``log_metric``
into sqlite costs milliseconds, which per step would dominate CPU training.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Mapping

from pipeline.common.files import reason
from pipeline.config import Config

log = logging.getLogger("ganlab.tracking")
#: Run tags naming the process that holds the run open.
DRIVER_HOST, DRIVER_PID, DRIVER_STARTED = "ganlab.driver_host", "ganlab.driver_pid", "ganlab.driver_started"
END_REASON = "ganlab.end_reason"
#: MLflow error codes of a store that answered and refused (as opposed to one that cannot be reached).
REFUSED = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "INVALID_STATE", "PERMISSION_DENIED", "BAD_REQUEST")
#: How long calls to the tracking store are retried while it is unreachable.
TRACKING_RETRY_S = float(os.environ.get("GANLAB_TRACKING_RETRY_S", "120"))

#: MLflow caps a param value at 6,000 characters (longer ones are truncated).
_MAX_PARAM_CHARS = 6000


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message says why and what to do."""


def resolve_tracking_uri(config: Config, project: Path | None = None) -> str:
    """params > MLFLOW_TRACKING_URI > the project's sqlite file."""
    if config.mlflow.tracking_uri:
        return config.mlflow.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(project or Path.cwd()).resolve() / 'mlflow.db'}"


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast (seconds, not MLflow's minutes of retries) when an HTTP tracking server is down."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as err:
        raise TrackingError(
            f"the MLflow tracking server at {uri} is unreachable ({err}). Start it, fix mlflow.tracking_uri / "
            "MLFLOW_TRACKING_URI, or unset both to use the project's local sqlite store."
        ) from err


#: Experiment tag that MLflow 3's UI reads to choose between its GenAI and model-training views.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"


def experiment_id(client: Any, name: str, project: Path | None = None) -> str:
    """The experiment's id, creating it (artifacts under ``<project>/mlartifacts`` for local stores).

    The experiment is tagged as model training (``mlflow.experimentKind``), so
    that MLflow 3's UI opens it on its runs table rather than on the GenAI views.
    """
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if EXPERIMENT_KIND not in existing.tags:
            client.set_experiment_tag(existing.experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
        return existing.experiment_id
    location = None
    if not client.tracking_uri.startswith(("http://", "https://", "databricks")):
        location = ((project or Path.cwd()).resolve() / "mlartifacts").as_uri()
    try:
        return client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND: MODEL_TRAINING})
    except Exception:  # created concurrently by another stage: MlflowException(RESOURCE_ALREADY_EXISTS)
        existing = client.get_experiment_by_name(name)
        if existing is None:
            raise
        return existing.experiment_id


def _sqlite_damage(err: BaseException | None) -> BaseException | None:
    """sqlite3's own DatabaseError (a file that is not a database, or a damaged one) among ``err`` and its causes;
    None for other errors, its subclasses included (OperationalError: a locked or unreachable file)."""
    import sqlite3

    for _ in range(10):
        if err is None or type(err) is sqlite3.DatabaseError:
            return err
        err = err.__cause__ or err.__context__
    return None


def client_for(uri: str) -> Any:
    """An MLflow client of the store at ``uri``, opened now: :class:`TrackingError` (one line) when it cannot be,
    naming a damaged sqlite file and how to start a new one."""
    from mlflow.tracking import MlflowClient

    check_reachable(uri)
    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as err:
        damage = _sqlite_damage(err) if uri.startswith("sqlite:///") else None
        if damage is not None:
            path = uri[len("sqlite:///"):].split("?")[0]
            raise TrackingError(f"the MLflow tracking store {path} is not a readable sqlite database "
                                f"({reason(damage)}); move it aside (mv {path} {path}.damaged) or restore a backup "
                                "of it: MLflow then creates a new, empty one") from err
        raise TrackingError(f"cannot open the MLflow store {uri}: {reason(err)}") from err


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr_g": 1}}`` → ``{"train.lr_g": 1}`` (MLflow params)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def start_run(client: Any, experiment: str, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str],
              owner: Mapping[str, str] | None = None) -> str:
    """Create a run with flattened params and tags; returns its id. ``owner`` names the driver process that holds
    it open (:func:`driver_tags` of the ganlab command, wherever the run itself trains; default: this process)."""
    from mlflow.entities import Param

    run = client.create_run(experiment_id(client, experiment), run_name=run_name,
                            tags={"mlflow.runName": run_name, **(owner or driver_tags()), **tags})
    items = [Param(k, str(v)[:_MAX_PARAM_CHARS]) for k, v in flatten(params).items()]
    for start in range(0, len(items), 100):  # log_batch takes at most 100 params per call
        client.log_batch(run.info.run_id, params=items[start : start + 100])
    return run.info.run_id


def driver_tags() -> dict[str, str]:
    """Which process holds a run open (host, pid, start time): the ganlab command that drives the stage, also for
    runs that train on another node (Ray ends a driver's trials with it). A run left RUNNING by a driver that is
    gone is closed as KILLED by the next ganlab command on that host (:func:`close_orphaned_runs`)."""
    import psutil

    return {DRIVER_HOST: socket.gethostname(), DRIVER_PID: str(os.getpid()),
            DRIVER_STARTED: f"{psutil.Process().create_time():.3f}"}


def _driver_gone(tags: Mapping[str, str]) -> bool:
    """Whether a run's driver, on this host, no longer runs (a reused pid has another start time)."""
    import psutil

    if tags.get(DRIVER_HOST) != socket.gethostname() or DRIVER_PID not in tags:
        return False
    try:
        return f"{psutil.Process(int(tags[DRIVER_PID])).create_time():.3f}" != tags.get(DRIVER_STARTED)
    except psutil.NoSuchProcess:
        return True


def close_orphaned_runs(client: Any, experiment: str) -> list[str]:
    """Mark KILLED (with the reason in ``ganlab.end_reason``) every RUNNING run of this host whose driver
    process is gone -- a ``kill -9`` or an out-of-memory kill cannot close its run. Returns their ids."""
    existing = client.get_experiment_by_name(experiment)
    if existing is None:
        return []
    closed = []
    for run in client.search_runs([existing.experiment_id], "attributes.status = 'RUNNING'"):
        tags = run.data.tags
        if _driver_gone(tags):
            client.set_tag(run.info.run_id, END_REASON, f"its driver (pid {tags[DRIVER_PID]} on {tags[DRIVER_HOST]}) "
                                                          "ended without closing the run (killed)")
            client.set_terminated(run.info.run_id, "KILLED")
            closed.append(run.info.run_id)
    if closed:
        log.warning("marked %d MLflow run(s) KILLED whose driver process is gone: %s", len(closed), ", ".join(closed))
    return closed


def retrying(call: Callable[[], Any], what: str, timeout_s: float = TRACKING_RETRY_S) -> Any:
    """``call()``, retried for up to ``timeout_s`` while the tracking server cannot be reached."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except Exception as err:  # MlflowException, requests' ConnectionError… while a server is down
            if time.monotonic() > deadline:
                raise TrackingError(f"{what}: the MLflow tracking store is unreachable ({reason(err)}) after "
                                    f"{timeout_s:.0f}s of retries; the training's checkpoint is kept: run the "
                                    "command again once the server is back") from err
            time.sleep(2.0)


class MetricLogger:
    """Batched metric logging into one run (used on rank 0 of the training workers).

    With ``resume_key``, steps the run already holds for that metric are skipped: a training
    restarted from a checkpoint recomputes exactly the rows logged since that checkpoint, and each
    step must appear once. A row the tracking server does not take (it is down) is kept, in order,
    in memory and in the ``spool`` file, and sent before the next one; :meth:`flush` retries for a
    bounded time. A restarted run sends its spool first, so no step is lost to an outage. The spool is a file
    of the run storage (:class:`pipeline.cluster.storage.StoragePath`, written whole), so the node that resumes
    the run reads what another node held back.
    """

    def __init__(self, tracking_uri: str, run_id: str, resume_key: str | None = None, spool: Any = None) -> None:
        from mlflow.tracking import MlflowClient

        if tracking_uri.startswith(("http://", "https://")):  # fail fast and keep the row instead of blocking
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.run_id, self.spool, self.resume_key = run_id, spool, resume_key
        self.pending: list[list[Any]] = self._read_spool()  # [step, timestamp ms, {name: value}]
        self.spooled = bool(self.pending)  # whether the spool file holds rows (touched only then)
        self.logged_through: int | None = -1 if resume_key is None else None
        self.warned = False

    def _read_spool(self) -> list[list[Any]]:
        if self.spool is None or not self.spool.is_file():
            return []
        return [json.loads(line) for line in self.spool.read_text().splitlines() if line.strip()]

    def _write_spool(self) -> None:
        if self.spool is None or not (self.pending or self.spooled):
            return
        if not self.pending:
            self.spool.unlink(missing_ok=True)
        else:
            self.spool.write_text("".join(json.dumps(row) + "\n" for row in self.pending))
        self.spooled = bool(self.pending)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        self.pending.append([step, int(time.time() * 1000), {key: float(value) for key, value in metrics.items()}])
        self._send()

    def _send(self) -> bool:
        """Send the pending rows in order; False (rows kept) while the server is unreachable."""
        from mlflow.entities import Metric

        try:
            if self.logged_through is None:
                history = self.client.get_metric_history(self.run_id, self.resume_key)
                self.logged_through = max((m.step for m in history), default=-1)
            while self.pending:
                step, stamp, values = self.pending[0]
                if step > self.logged_through:
                    batch = [Metric(key, value, stamp, step) for key, value in values.items()]
                    for start in range(0, len(batch), 1000):  # log_batch takes at most 1,000 metrics per call
                        self.client.log_batch(self.run_id, metrics=batch[start : start + 1000])
                self.pending.pop(0)
        except Exception as err:  # MlflowException, requests' ConnectionError… while a server is down
            if getattr(err, "error_code", None) in REFUSED:  # the store answered: no retry will help
                raise TrackingError(f"MLflow run {self.run_id} refused the metrics ({reason(err)})") from err
            if not self.warned:
                log.warning("MLflow run %s: the tracking store is unreachable (%s); keeping %d row(s) to send when "
                            "it is back", self.run_id, reason(err), len(self.pending))
                self.warned = True
            self._write_spool()
            return False
        self.warned = False
        self._write_spool()
        return True

    def flush(self, timeout_s: float = TRACKING_RETRY_S) -> None:
        """Send every pending row, retrying for up to ``timeout_s``; a :class:`TrackingError` if that fails
        (the rows stay in the spool for the next attempt)."""
        deadline = time.monotonic() + timeout_s
        while not self._send():
            if time.monotonic() > deadline:
                raise TrackingError(f"MLflow run {self.run_id}: {len(self.pending)} metric row(s) could not be sent "
                                    f"within {timeout_s:.0f}s (the tracking store is unreachable); they are kept in "
                                    f"{self.spool} and sent when the command runs again")
            time.sleep(2.0)
